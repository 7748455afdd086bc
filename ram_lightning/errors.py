"""Errors the command line reports as a one-line message instead of a traceback."""


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and says what is allowed."""


class DataError(RuntimeError):
    """Dataset files are missing, corrupt or unreadable; the message says where and how to provide them."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit the model and data its saved config describes."""
