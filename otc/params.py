"""The backfill's parameters: one table of them, parsed once from `name=value` strings into typed values.

Parsing gives a `BackfillRequest` (what the user asked for, every tier); `for_tier` turns it
into one tier's `BackfillParams` once the newest available week is known (`as_of=latest`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import enum
from pathlib import Path
from typing import Mapping

from otc import weeks
from otc.errors import ParameterError
from otc.tiers import Tier

DEFAULT_FILE_PATTERN = "week_{week_ending}.psv"
DEFAULT_BUILD_DIR = "build"
DEFAULT_SOURCE_DIR = "data/otc/{tier}"
TIER_PLACEHOLDER = "{tier}"


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One `name=value` variable of `doit backfill`: the README table and `doit help` show these."""

    name: str
    default: str
    help: str


#: Every variable `doit backfill` understands, in the order the README and `doit help` list them.
PARAMETERS = (
    Parameter("tier", "(required)", "NMS_TIER_1, NMS_TIER_2 or OTC (any case; T1, T2, OTCE too), "
              "a comma-separated list, or all"),
    Parameter("weeks_back", "", "how many weeks, ending with the week of as_of"),
    Parameter("as_of", "latest", "with weeks_back: latest (newest week available), today, or a date"),
    Parameter("start_week", "", "first Friday of an explicit range (with end_week)"),
    Parameter("end_week", "", "last Friday of an explicit range, included"),
    Parameter("source_dir", DEFAULT_SOURCE_DIR, "where week files are read (and fetched weeks written); "
              "{tier} is the tier in lower case"),
    Parameter("file_pattern", DEFAULT_FILE_PATTERN, "a week file's name; must hold {week_ending}"),
    Parameter("build_dir", DEFAULT_BUILD_DIR, "where tables, records and reports are written"),
    Parameter("fetch", "auto", "get missing weeks from FINRA: auto (only into the default source_dir), "
              "true, or false"),
    Parameter("refetch", "false", "download the range's weeks again; unchanged weeks re-run nothing"),
    Parameter("finra_url", "https://api.finra.org", "FINRA's API; the OTC_FINRA_URL environment variable "
              "wins"),
    Parameter("windows", "last", "rolling and snapshot for the range's last week, or all: for every week"),
    Parameter("force", "false", "re-run every stage of the range, up to date or not"),
    Parameter("skip_rolling", "false", "leave out the 6-week rolling metrics"),
    Parameter("skip_snapshot", "false", "leave out the research snapshot"),
    Parameter("skip_report", "false", "leave out the HTML report"),
    Parameter("reject_zero_volume", "false", "reject rows with zero shares (ZERO_VOLUME)"),
    Parameter("strict", "false", "exit non-zero when any quality check is at FAIL"),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)
#: Set by the command line's reader when a variable was given twice (doit keeps only the last).
REPEATED = "__repeated__"


class FetchMode(enum.StrEnum):
    AUTO = "auto"
    TRUE = "true"
    FALSE = "false"


class Windows(enum.StrEnum):
    LAST = "last"
    ALL = "all"


@dataclasses.dataclass(frozen=True)
class WeekRange:
    """Which weeks: `weeks_back` ending at `as_of` (None: the newest available), or start..end."""

    weeks_back: int | None = None
    as_of: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def needs_latest(self) -> bool:
        return self.weeks_back is not None and self.as_of is None

    def weeks(self, latest: dt.date | None) -> list[dt.date]:
        if self.weeks_back is None:
            assert self.start is not None and self.end is not None
            return weeks.week_range(self.start, self.end)
        as_of = self.as_of or latest
        assert as_of is not None, "as_of=latest needs the newest available week"
        try:
            week_list = weeks.weeks_back(self.weeks_back, as_of)
        except OverflowError:
            raise ParameterError(f"weeks_back={self.weeks_back} with as_of={as_of} leaves the calendar's range") from None
        _check_window(week_list[-1])
        return week_list


@dataclasses.dataclass(frozen=True)
class BackfillRequest:
    """What the user asked for, before each tier's range is known."""

    tiers: tuple[Tier, ...]
    range: WeekRange
    source_dir: str
    build_dir: Path
    file_pattern: str = DEFAULT_FILE_PATTERN
    fetch: FetchMode = FetchMode.AUTO
    refetch: bool = False
    finra_url: str | None = None
    windows: Windows = Windows.LAST
    force: bool = False
    skip_rolling: bool = False
    skip_snapshot: bool = False
    skip_report: bool = False
    reject_zero_volume: bool = False
    strict: bool = False

    @property
    def default_source_dir(self) -> bool:
        return self.source_dir == DEFAULT_SOURCE_DIR

    @property
    def fetching(self) -> bool:
        """Whether missing weeks may be fetched into this source_dir."""
        return self.fetch is FetchMode.TRUE or (self.fetch is FetchMode.AUTO and self.default_source_dir)

    def source_dir_of(self, tier: Tier) -> Path:
        return Path(self.source_dir.replace(TIER_PLACEHOLDER, tier.value.lower()))

    def for_tier(self, tier: Tier, latest: dt.date | None = None) -> "BackfillParams":
        """One tier's backfill; `latest` is its newest available week (for as_of=latest)."""
        week_list = self.range.weeks(latest)
        # every range end reads back up to HISTORY_WEEKS weeks: they must lie within the calendar
        _check_span(week_list[0] if self.windows is Windows.ALL else week_list[-1])
        return BackfillParams(
            tier=tier, weeks=tuple(week_list), source_dir=self.source_dir_of(tier), build_dir=self.build_dir,
            file_pattern=self.file_pattern, weeks_back=self.range.weeks_back,
            as_of=self.range.as_of or (latest if self.range.weeks_back else None),
            force=self.force, skip_rolling=self.skip_rolling, skip_snapshot=self.skip_snapshot,
            skip_report=self.skip_report, reject_zero_volume=self.reject_zero_volume,
            windows=self.windows, fetching=self.fetching, refetch=self.refetch, strict=self.strict,
        )


@dataclasses.dataclass(frozen=True)
class BackfillParams:
    """One tier's backfill: which weeks, where their files are, and the options."""

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
    skip_report: bool = False
    reject_zero_volume: bool = False
    windows: Windows = Windows.LAST
    fetching: bool = False
    refetch: bool = False
    strict: bool = False

    @property
    def start_week(self) -> dt.date:
        return self.weeks[0]

    @property
    def end_week(self) -> dt.date:
        return self.weeks[-1]

    @property
    def range_ends(self) -> tuple[dt.date, ...]:
        """The weeks that get rolling and snapshot: the last one, or every one (windows=all)."""
        return self.weeks if self.windows is Windows.ALL else (self.end_week,)

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
            "skip_report": self.skip_report,
            "reject_zero_volume": self.reject_zero_volume,
            "windows": self.windows.value,
            "fetching": self.fetching,
            "refetch": self.refetch,
            "strict": self.strict,
        }


def parse_request(raw: Mapping[str, str | None], today: dt.date) -> BackfillRequest:
    """Validate the command-line variables; raise ParameterError with one clear line."""
    given = {k: v for k, v in raw.items() if v is not None}
    if REPEATED in given:
        raise ParameterError(f"Parameter '{given[REPEATED]}' given more than once; give each parameter once")
    unknown = sorted(set(given) - set(PARAMETER_NAMES))
    if unknown:
        raise ParameterError(unknown_parameter_message(unknown[0]))
    if not given.get("tier", "").strip():
        raise ParameterError("Missing required parameter: tier\n" + parameters_help())
    tiers = parse_tiers(given["tier"])
    week_range = _week_range(given, today)
    file_pattern = given.get("file_pattern", DEFAULT_FILE_PATTERN)
    _check_file_pattern(file_pattern)
    source_dir = given.get("source_dir", "").strip() or DEFAULT_SOURCE_DIR
    if len(tiers) > 1 and TIER_PLACEHOLDER not in source_dir:
        raise ParameterError(
            f"With several tiers, source_dir must hold {TIER_PLACEHOLDER} (their week files would collide), "
            f"got {source_dir!r}; e.g. source_dir=data/otc/{TIER_PLACEHOLDER}")
    request = BackfillRequest(
        tiers=tiers,
        range=week_range,
        source_dir=source_dir,
        build_dir=Path(given.get("build_dir") or DEFAULT_BUILD_DIR),
        file_pattern=file_pattern,
        fetch=_choice(given, "fetch", FetchMode, FetchMode.AUTO),
        refetch=_flag(given, "refetch"),
        finra_url=given.get("finra_url", "").strip() or None,
        windows=_choice(given, "windows", Windows, Windows.LAST),
        force=_flag(given, "force"),
        skip_rolling=_flag(given, "skip_rolling"),
        skip_snapshot=_flag(given, "skip_snapshot"),
        skip_report=_flag(given, "skip_report"),
        reject_zero_volume=_flag(given, "reject_zero_volume"),
        strict=_flag(given, "strict"),
    )
    if not request.range.needs_latest:
        request.for_tier(tiers[0])  # the range is known: check it now
    return request


def parse_backfill_params(raw: Mapping[str, str | None], today: dt.date, latest: dt.date | None = None) -> BackfillParams:
    """One tier's parameters (the first tier asked for); `latest` stands for as_of=latest."""
    request = parse_request(raw, today)
    return request.for_tier(request.tiers[0], latest)


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """`all`, one tier, or a comma-separated list (each once, in the order given)."""
    if text.strip().lower() == "all":
        return tuple(Tier)
    tiers: list[Tier] = []
    for part in text.split(","):
        tier = Tier.parse(part)
        if tier not in tiers:
            tiers.append(tier)
    return tuple(tiers)


def parameters_help() -> str:
    """Every parameter with its default and meaning, a line each (as the README's table)."""
    width = max(len(p.name) + len(p.default) for p in PARAMETERS) + 1
    lines = ["Usage: doit backfill tier=<tier> (weeks_back=<n> | start_week=<friday> end_week=<friday>) [name=value ...]"]
    lines += [f"  {(p.name + '=' + p.default):<{width + 1}}  {p.help}" for p in PARAMETERS]
    return "\n".join(lines)


def unknown_parameter_message(name: str) -> str:
    close = difflib.get_close_matches(name, PARAMETER_NAMES, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f". Known parameters: {', '.join(PARAMETER_NAMES)}"
    return f"Unknown parameter '{name}'{hint}"


def _week_range(given: Mapping[str, str], today: dt.date) -> WeekRange:
    has_back = "weeks_back" in given
    has_range = "start_week" in given or "end_week" in given
    if has_back and has_range:
        raise ParameterError("Specify either weeks_back OR start_week and end_week, not both")
    if has_back:
        text = given["weeks_back"].strip()
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ParameterError("weeks_back must be a positive integer")
        as_of = _as_of(given.get("as_of", "latest"), today)
        week_range = WeekRange(weeks_back=int(text), as_of=as_of)
        if as_of is not None:
            week_range.weeks(None)  # validates the calendar range now
        return week_range
    if "as_of" in given:
        raise ParameterError("as_of only applies with weeks_back")
    if "start_week" in given and "end_week" in given:
        start = weeks.parse_week_ending(given["start_week"], "start_week")
        end = weeks.parse_week_ending(given["end_week"], "end_week")
        if start > end:
            raise ParameterError(f"start_week ({start}) must be <= end_week ({end})")
        _check_window(end)
        return WeekRange(start=start, end=end)
    raise ParameterError("Must specify either weeks_back OR both start_week and end_week")


def _as_of(text: str, today: dt.date) -> dt.date | None:
    """None for `latest`; `today`; or an ISO date."""
    word = text.strip().lower()
    if word == "latest":
        return None
    if word == "today":
        return today
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ParameterError(f"as_of must be latest, today or an ISO date (YYYY-MM-DD), got {text!r}") from None


def _check_span(first_end: dt.date) -> None:
    try:
        weeks.weeks_back(weeks.HISTORY_WEEKS, first_end)
    except OverflowError:
        raise ParameterError(
            f"The {weeks.HISTORY_WEEKS} weeks a report reads back from {first_end} start before year 1") from None


def _check_window(last: dt.date) -> None:
    """The rolling window of the range's last week must lie within the calendar."""
    try:
        weeks.rolling_window(last)
    except OverflowError:
        raise ParameterError(f"The 6-week window ending {last} starts before year 1") from None


def _flag(given: Mapping[str, str], name: str) -> bool:
    text = given.get(name, "false").strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ParameterError(f"{name} must be true or false, got {given[name]!r}")


def _choice(given: Mapping[str, str], name: str, kind: type[enum.StrEnum], default):
    text = given.get(name, default.value).strip().lower()
    try:
        return kind(text)
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise ParameterError(f"{name} must be one of {valid}, got {given[name]!r}") from None


def _check_file_pattern(pattern: str) -> None:
    try:
        name = pattern.format(week_ending="2000-01-07")
    except (KeyError, IndexError, ValueError):
        raise ParameterError(
            f"file_pattern may only use {{week_ending}}, got {pattern!r}"
        ) from None
    if name == pattern:
        raise ParameterError(f"file_pattern must contain {{week_ending}}, got {pattern!r}")
