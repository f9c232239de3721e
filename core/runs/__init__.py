"""A run is a folder of records that one trainer writes and any number of viewers read: its layout, the
owner's lock, the event stream, the control file, following it from outside, the facts a report compares,
TensorBoard files, and the catalog of runs under a folder. Torch-free except the TensorBoard writer."""
