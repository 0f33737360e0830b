"""The backfill's parameters: parsed once from `name=value` strings into a typed value."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Mapping

from otc import weeks
from otc.errors import ParameterError
from otc.tiers import Tier

DEFAULT_FILE_PATTERN = "week_{week_ending}.psv"
DEFAULT_BUILD_DIR = "build"

#: Every variable `doit backfill` understands, in the order the README lists them.
PARAMETER_NAMES = (
    "tier", "weeks_back", "as_of", "start_week", "end_week", "source_dir",
    "file_pattern", "build_dir", "force", "skip_rolling", "skip_snapshot",
    "reject_zero_volume",
)


@dataclasses.dataclass(frozen=True)
class BackfillParams:
    """One backfill: which tier-weeks, where their files are, and the options."""

    tier: Tier
    weeks: tuple[dt.date, ...]
    source_dir: Path
    build_dir: Path
    file_pattern: str = DEFAULT_FILE_PATTERN
    weeks_back: int | None = None
    as_of: dt.date | None = None
    force: bool = False
    skip_rolling: bool = False
    skip_snapshot: bool = False
    reject_zero_volume: bool = False

    @property
    def start_week(self) -> dt.date:
        return self.weeks[0]

    @property
    def end_week(self) -> dt.date:
        return self.weeks[-1]

    def source_path(self, week: dt.date) -> Path:
        return self.source_dir / self.file_pattern.format(week_ending=week.isoformat())

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, as recorded in the batch file."""
        return {
            "tier": self.tier.value,
            "weeks_back": self.weeks_back,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "start_week": self.start_week.isoformat(),
            "end_week": self.end_week.isoformat(),
            "source_dir": str(self.source_dir),
            "file_pattern": self.file_pattern,
            "build_dir": str(self.build_dir),
            "force": self.force,
            "skip_rolling": self.skip_rolling,
            "skip_snapshot": self.skip_snapshot,
            "reject_zero_volume": self.reject_zero_volume,
        }


def parse_backfill_params(raw: Mapping[str, str | None], today: dt.date) -> BackfillParams:
    """Validate the command-line variables; raise ParameterError with one clear line."""
    given = {k: v for k, v in raw.items() if v is not None}
    if not given.get("tier", "").strip():
        raise ParameterError("Missing required parameter: tier")
    tier = Tier.parse(given["tier"])
    week_list, weeks_back_count, as_of = _week_list(given, today)
    file_pattern = given.get("file_pattern", DEFAULT_FILE_PATTERN)
    _check_file_pattern(file_pattern)
    source_dir = Path(given["source_dir"]) if given.get("source_dir") else default_source_dir(tier)
    return BackfillParams(
        tier=tier,
        weeks=tuple(week_list),
        source_dir=source_dir,
        build_dir=Path(given.get("build_dir") or DEFAULT_BUILD_DIR),
        file_pattern=file_pattern,
        weeks_back=weeks_back_count,
        as_of=as_of,
        force=_flag(given, "force"),
        skip_rolling=_flag(given, "skip_rolling"),
        skip_snapshot=_flag(given, "skip_snapshot"),
        reject_zero_volume=_flag(given, "reject_zero_volume"),
    )


def default_source_dir(tier: Tier) -> Path:
    """The first existing of data/otc/<tier>, data/fixtures/otc, data/otc."""
    candidates = [Path("data/otc") / tier.value.lower(), Path("data/fixtures/otc"), Path("data/otc")]
    return next((p for p in candidates if p.is_dir()), candidates[1])


def _week_list(given: Mapping[str, str], today: dt.date) -> tuple[list[dt.date], int | None, dt.date | None]:
    has_back = "weeks_back" in given
    has_range = "start_week" in given or "end_week" in given
    if has_back and has_range:
        raise ParameterError("Specify either weeks_back OR start_week and end_week, not both")
    if has_back:
        text = given["weeks_back"].strip()
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ParameterError("weeks_back must be a positive integer")
        as_of = _iso_date(given["as_of"], "as_of") if "as_of" in given else today
        try:
            week_list = weeks.weeks_back(int(text), as_of)
        except OverflowError:
            raise ParameterError(f"weeks_back={text} with as_of={as_of} leaves the calendar's range") from None
        _check_window(week_list[-1])
        return week_list, int(text), as_of
    if "as_of" in given:
        raise ParameterError("as_of only applies with weeks_back")
    if "start_week" in given and "end_week" in given:
        start = weeks.parse_week_ending(given["start_week"], "start_week")
        end = weeks.parse_week_ending(given["end_week"], "end_week")
        if start > end:
            raise ParameterError(f"start_week ({start}) must be <= end_week ({end})")
        _check_window(end)
        return weeks.week_range(start, end), None, None
    raise ParameterError("Must specify either weeks_back OR both start_week and end_week")


def _check_window(last: dt.date) -> None:
    """The rolling window of the range's last week must lie within the calendar."""
    try:
        weeks.rolling_window(last)
    except OverflowError:
        raise ParameterError(f"The 6-week window ending {last} starts before year 1") from None


def _iso_date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ParameterError(f"{name} must be an ISO date (YYYY-MM-DD), got {text!r}") from None


def _flag(given: Mapping[str, str], name: str) -> bool:
    text = given.get(name, "false").strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ParameterError(f"{name} must be true or false, got {given[name]!r}")


def _check_file_pattern(pattern: str) -> None:
    try:
        name = pattern.format(week_ending="2000-01-07")
    except (KeyError, IndexError, ValueError):
        raise ParameterError(
            f"file_pattern may only use {{week_ending}}, got {pattern!r}"
        ) from None
    if name == pattern:
        raise ParameterError(f"file_pattern must contain {{week_ending}}, got {pattern!r}")
