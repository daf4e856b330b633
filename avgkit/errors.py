"""The errors avgkit raises for bad input: the command line prints their message as one line."""


class AvgkitError(Exception):
    """Bad input or state that the user can fix; the message names the file or flag."""


class DataError(AvgkitError):
    """A frame folder, video, image or clips folder is not what was expected."""


class ConfigError(AvgkitError):
    """A config, preset or flag value is not what was expected."""
