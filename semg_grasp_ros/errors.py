"""One exception hierarchy for the whole package.

Library code raises these with a message that says what was wrong and what was
expected; nodes and the CLI catch them, log them and keep going.
"""


class SemgGraspError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(SemgGraspError, ValueError):
    """A parameter or configuration file is invalid (raised at start-up)."""


class DataError(SemgGraspError, ValueError):
    """An input sample, message or file content is malformed or out of range."""


class DatasetError(DataError):
    """A dataset file is missing, unreadable or lacks the expected variables."""


class BagError(SemgGraspError):
    """A ROS 2 bag cannot be written or read (exists, unknown types, corrupt)."""


class ModelError(SemgGraspError):
    """Weights or a model config are missing, corrupt or incompatible."""


class DeviceError(SemgGraspError):
    """A live acquisition device or its optional library is unavailable."""
