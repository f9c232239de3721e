"""Several runs as one experiment: sweeps (a grid times seeds) and the data reports draw. Torch-free."""
