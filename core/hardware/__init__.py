"""The machine a run uses: devices (and their memory), the processes of a distributed job, and readings of
CPUs and GPUs."""
