"""The app's screens: setup, training, runs (and a run's detail), and a yes/no dialog."""
