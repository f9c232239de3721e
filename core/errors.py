"""Exceptions the engine raises for problems the user can fix; their message is one readable line."""


class UserError(Exception):
    """Bad input (a value, a path, a file): the UI prints the message and exits with code 2."""


class DeviceError(UserError):
    pass


class DataError(UserError):
    pass


class CheckpointError(UserError):
    pass


class Cancelled(Exception):
    """The user stopped the run while its data was still loading (raised from a progress callback)."""


class BadImage(DataError):
    """An image that cannot be read, met while streaming (not skipped): the batch it was in is not trained."""
