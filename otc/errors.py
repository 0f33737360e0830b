"""Errors a user can cause or must know about. Each is shown as one line, never as a traceback.

Code tells them apart with `isinstance`; low-level errors (OS, HTTP, DuckDB) are translated
into one of these where they cross into our code.
"""


class OtcError(Exception):
    """Something the user can fix or must know about: shown as one line."""


class ParameterError(OtcError):
    """A backfill parameter is missing, malformed or inconsistent."""


class SourceError(OtcError):
    """A source file cannot be read as a whole (unknown header, unreadable)."""


class UpstreamFailed(OtcError):
    """A stage's input was not produced because an earlier stage failed."""


class ValueOutOfRange(OtcError, OverflowError):
    """A value does not fit its column's type (a rounded decimal, a 6-week sum); `row` is the
    first such row, when known."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


class BuildDirBusy(OtcError):
    """Another run holds the build directory."""


class NoOutputs(OtcError):
    """The build directory holds no backfill output yet."""


class QueryError(OtcError):
    """DuckDB refused the query."""


class FinraError(OtcError):
    """FINRA's Query API did not give a week's data."""


class FinraUnreachable(FinraError):
    """FINRA's Query API cannot be reached at all (no connection, DNS, TLS)."""


class FinraRefused(FinraError):
    """FINRA answered with an error status, after any retries."""


class FinraBadData(FinraError):
    """FINRA answered, but the data cannot be trusted (wrong week, tier or type; too few rows)."""
