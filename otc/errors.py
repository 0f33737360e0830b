"""Errors a user can cause. Each is shown as one line, never as a traceback."""


class OtcError(Exception):
    """Something the user can fix: a bad parameter or a bad source file."""


class ParameterError(OtcError):
    """A backfill parameter is missing, malformed or inconsistent."""


class SourceError(OtcError):
    """A source file cannot be read as a whole (unknown header, unreadable)."""
