"""Week endings: the Friday that closes each Saturday..Friday reporting week."""

from __future__ import annotations

import datetime as dt

from otc.errors import ParameterError

WINDOW_WEEKS = 6
#: The longest span of weeks a stage reads back: the report's 26 weeks of volume history.
HISTORY_WEEKS = 26


def friday_of(day: dt.date) -> dt.date:
    """The Friday of the week (Saturday..Friday) that contains `day`."""
    return day + dt.timedelta(days=(4 - day.weekday()) % 7)


def parse_week_ending(text: str, name: str = "week_ending") -> dt.date:
    """An ISO date that is a Friday, or a ParameterError that names the nearest Friday."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ParameterError(f"{name} must be an ISO date (YYYY-MM-DD), got {text!r}") from None
    if day.weekday() != 4:
        raise ParameterError(
            f"{name} must be a Friday, got {day.isoformat()} ({day.strftime('%A')}). "
            f"Nearest Friday: {friday_of(day).isoformat()}"
        )
    return day


def weeks_back(count: int, as_of: dt.date) -> list[dt.date]:
    """The `count` Fridays ending with the Friday of `as_of`'s week, oldest first."""
    last = friday_of(as_of)
    return [last - dt.timedelta(weeks=i) for i in range(count - 1, -1, -1)]


def week_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every Friday from `start` to `end`, both included."""
    count = (end - start).days // 7 + 1
    return [start + dt.timedelta(weeks=i) for i in range(count)]


def rolling_window(last: dt.date, size: int = WINDOW_WEEKS) -> list[dt.date]:
    """The `size` Fridays ending at `last`, oldest first."""
    return weeks_back(size, last)
