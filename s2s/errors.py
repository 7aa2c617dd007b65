"""Errors a user can cause and fix: the CLI prints them as one line, never a traceback."""


class S2SError(Exception):
    """Base of every user-facing error."""


class CheckpointError(S2SError):
    """A checkpoint is missing, truncated, of the wrong kind, or unsafe to load."""


class DataError(S2SError):
    """A corpus, manifest or input file is missing or malformed."""


class ConfigError(S2SError):
    """A configuration value is unknown or inconsistent."""


class NonFiniteLossError(S2SError):
    """Training produced a non-finite loss or gradient too many steps in a row."""


class AudioError(DataError):
    """An audio file is missing, empty, corrupt or not audio at all."""


class WorkerError(S2SError):
    """A decoding worker process died (killed for lack of memory, most likely): fewer workers may fit."""


class ExportError(S2SError):
    """A model cannot be exported to an engine as asked (an option the engine cannot express)."""
