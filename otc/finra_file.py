"""FINRA Query API answers to data we trust: pages of rows checked and written in FINRA's file
format (docs/operations.md), partition lists read as published weeks (and cached in a JSON file).

No HTTP here: `otc.finra` fetches, this module judges what came back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import operator
import re
import time
from collections.abc import Iterable
from pathlib import Path

from otc import store
from otc.errors import FinraBadData
from otc.sources import SourceFormat
from otc.tiers import Tier

SUMMARY_TYPE = "ATS_W_SMBL_FIRM"
PAGE_LIMIT = 5000  # rows a request asks for
TIER_IDENTIFIERS: dict[Tier, str] = {Tier.NMS_TIER_1: "T1", Tier.NMS_TIER_2: "T2", Tier.OTC: "OTCE"}
_TIERS_BY_ID = {identifier: tier for tier, identifier in TIER_IDENTIFIERS.items()}

#: The file's columns are FINRA's own field names, so the header is also the list of fields to copy.
FIELDS: tuple[str, ...] = SourceFormat.FINRA.header
HEADER = "|".join(FIELDS)
_COUNT_FIELDS = ("totalWeeklyShareQuantity", "totalWeeklyTradeCount")
_CHECKED_FIELDS = ("weekStartDate", "tierIdentifier", "summaryTypeCode")

_checked = operator.itemgetter(*_CHECKED_FIELDS)
_shares, _trades = (operator.itemgetter(name) for name in _COUNT_FIELDS)
_fields = operator.itemgetter(*FIELDS)
# %d is safe only because the fast path first checks that both counts are exact ints
_SEPARATORS = len(FIELDS) - 1
_LINE = "|".join("%d" if name in _COUNT_FIELDS else "%s" for name in FIELDS)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclasses.dataclass(frozen=True)
class WeekQuery:
    """One tier-week as FINRA keys it: tier identifier and the week's Monday (`weekStartDate`)."""

    tier: Tier
    week_ending: dt.date

    @property
    def monday(self) -> dt.date:
        return self.week_ending - dt.timedelta(days=4)

    @property
    def tier_id(self) -> str:
        return TIER_IDENTIFIERS[self.tier]

    @property
    def label(self) -> str:
        return f"{self.tier.value} week ending {self.week_ending.isoformat()}"

    @property
    def expected(self) -> tuple[str, str, str]:
        """What every row must carry in `weekStartDate`, `tierIdentifier`, `summaryTypeCode`."""
        return self.monday.isoformat(), self.tier_id, SUMMARY_TYPE

    def body(self, offset: int, limit: int = PAGE_LIMIT) -> dict:
        """The POST body of FINRA's data request, for the page at `offset`."""
        monday = self.monday.isoformat()
        return {
            "compareFilters": [
                {"compareType": "EQUAL", "fieldName": "tierIdentifier", "fieldValue": self.tier_id},
                {"compareType": "EQUAL", "fieldName": "summaryTypeCode", "fieldValue": SUMMARY_TYPE},
            ],
            "dateRangeFilters": [{"fieldName": "weekStartDate", "startDate": monday, "endDate": monday}],
            "limit": limit,
            "offset": offset,
        }


@dataclasses.dataclass(frozen=True)
class Answer:
    """A page as it came back, its body undecoded; `wait_seconds` covers the request and any retries."""

    offset: int
    status: int
    data: bytes
    record_total: int | None
    retries: int
    wait_seconds: float


@dataclasses.dataclass(frozen=True)
class Page:
    """A page checked and written as lines of the file."""

    answer: Answer
    rows: int
    text: str
    work_seconds: float


def read_page(query: WeekQuery, answer: Answer) -> Page:
    """A page's rows decoded, checked and written as lines (204 or an empty body: no rows)."""
    started = time.perf_counter()
    data = answer.data
    rows = [] if answer.status == 204 or not data or data.isspace() else decode_rows(data, query, answer.offset)
    if len(rows) > PAGE_LIMIT:
        raise FinraBadData(f"FINRA sent {len(rows)} rows for {query.label} at offset {answer.offset}, "
                           f"more than the limit of {PAGE_LIMIT}")
    text = page_text(rows, query, answer.offset)
    return Page(answer, len(rows), text, time.perf_counter() - started)


def check_rows(query: WeekQuery, pages: list[Page]) -> int:
    """The week's row count, once it is known to be above zero and to match `Record-Total`."""
    rows = sum(page.rows for page in pages)
    if rows == 0:
        raise FinraBadData(f"FINRA returned no rows for {query.label} (weekStartDate {query.monday}, "
                           f"tierIdentifier {query.tier_id}, summaryTypeCode {SUMMARY_TYPE})")
    total = pages[0].answer.record_total
    for page in pages:
        if page.answer.record_total not in (None, total):
            raise FinraBadData(f"FINRA's Record-Total changed while paging {query.label}: {total} at offset 0, "
                               f"{page.answer.record_total} at offset {page.answer.offset}")
    if total is not None and rows != total:
        raise FinraBadData(f"FINRA sent {rows} rows for {query.label}, but its Record-Total header says {total}")
    return rows


def decode_rows(body: bytes, query: WeekQuery, offset: int) -> list:
    """A page's body as its list of rows; anything but a JSON array is bad data."""
    try:
        rows = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FinraBadData(f"FINRA sent a body that is not JSON for {query.label} (offset {offset}): "
                           f"{one_line(body.decode('utf-8', 'replace'))}") from None
    if not isinstance(rows, list):
        raise FinraBadData(f"FINRA sent a JSON {type(rows).__name__}, not an array of rows, for {query.label} "
                           f"(offset {offset}): {one_line(json.dumps(rows))}")
    return rows


def page_text(rows: list, query: WeekQuery, first_index: int) -> str:
    """The page's rows as lines of the file, joined by LF (no final LF), after checking each row.

    `first_index` is the first row's index in the week (its offset), so that a bad row is named
    by its place in the week.
    """
    if not rows:
        return ""
    fast = _fast_text(rows, query, first_index)
    if fast is not None:
        return fast
    return "\n".join(_row_line(row, query, first_index + i) for i, row in enumerate(rows))


def _fast_text(rows: list, query: WeekQuery, first_index: int) -> str | None:
    """`page_text` in a few C-level passes for a page whose rows are all right and whose counts are
    plain ints; None otherwise, for the slow path to find and name the bad row.
    """
    try:
        if list(map(_checked, rows)).count(query.expected) != len(rows):
            return None
        # exact ints only: a bool, float or null count goes the slow way
        if set(map(type, map(_shares, rows))) | set(map(type, map(_trades, rows))) != {int}:
            return None
        lines = list(map(_LINE.__mod__, map(_fields, rows)))
    except (KeyError, TypeError):  # a missing field, a row that is no object
        return None
    text = "\n".join(lines)
    # every separator is ours and no value was null (`%s` writes None as "None")
    if (text.count("|") == _SEPARATORS * len(rows) and text.count("\n") == len(rows) - 1
            and "\r" not in text and "None" not in text):
        return text
    # a few values hold a separator, CR, LF or null (or a genuine "None"): redo those rows slowly
    for i, line in enumerate(lines):
        if line.count("|") != _SEPARATORS or "\n" in line or "\r" in line or "None" in line:
            lines[i] = _row_line(rows[i], query, first_index + i)
    return "\n".join(lines)


def _row_line(row: object, query: WeekQuery, index: int) -> str:
    """One row checked and written the obvious way: the reference the fast path must match."""
    if not isinstance(row, dict):
        raise FinraBadData(f"FINRA sent bad data for {query.label}: row {index} is not an object: "
                           f"{one_line(json.dumps(row))}")
    for name, want in zip(_CHECKED_FIELDS, query.expected):
        if name not in row:
            raise FinraBadData(f"FINRA sent bad data for {query.label}: row {index} has no {name} "
                               f"(expected {want!r})")
        if row[name] != want:
            raise FinraBadData(f"FINRA sent bad data for {query.label}: row {index} has {name} "
                               f"{row[name]!r}, expected {want!r}")
    return "|".join(_count(row.get(name), name, query, index) if name in _COUNT_FIELDS else _text(row.get(name))
                    for name in FIELDS)


def _text(value: object) -> str:
    """A text value for one field: null empty, and no `|`, CR or LF that would split the line."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text.replace("|", " ").replace("\r", " ").replace("\n", " ")


def _count(value: object, name: str, query: WeekQuery, index: int) -> str:
    """A share or trade count in plain decimal; JSON may send 1234.0 for 1234. Null stays empty
    (ingest rejects that row); anything but a whole number fails the week."""
    if value is None:
        return ""
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer():
        return str(int(value))
    raise FinraBadData(f"FINRA sent bad data for {query.label}: row {index} has {name} {value!r}, "
                       f"expected a whole number")


def file_content(pages: Iterable[str]) -> bytes:
    """The week's file: header, then every page's lines in order, UTF-8 with LF endings."""
    text = "\n".join([HEADER, *(page for page in pages if page)]) + "\n"
    # JSON can carry a lone surrogate, which UTF-8 cannot: it becomes "?" rather than failing the week
    return text.encode("utf-8", "replace")


def published_weeks(payload: object) -> dict[Tier, tuple[dt.date, ...]]:
    """Week endings (Fridays) per tier from the partitions answer, sorted.

    Each partition list holds a `weekStartDate` and a tier identifier in either order, told apart
    by form; a list without exactly one date and one known tier identifier is ignored.
    """
    lists = payload.get("availablePartitions") if isinstance(payload, dict) else None
    if not isinstance(lists, list):
        raise FinraBadData(f"FINRA's partitions answer has no availablePartitions list: "
                           f"{one_line(json.dumps(payload))}")
    weeks: dict[Tier, set[dt.date]] = {tier: set() for tier in Tier}
    for item in lists:
        values = item.get("partitions") if isinstance(item, dict) else None
        if not isinstance(values, list):
            continue
        dates = [v for v in values if isinstance(v, str) and _ISO_DATE.match(v)]
        tiers = [_TIERS_BY_ID[v] for v in values if isinstance(v, str) and v in _TIERS_BY_ID]
        if len(dates) != 1 or len(tiers) != 1:
            continue
        weeks[tiers[0]].add(_week_ending(dates[0]))
    return {tier: tuple(sorted(days)) for tier, days in weeks.items()}


def _week_ending(week_start: str) -> dt.date:
    """The Friday of a `weekStartDate`; a date that is impossible or not a Monday is bad data, since
    dropping it would report a published week as not published."""
    try:
        monday = dt.date.fromisoformat(week_start)
    except ValueError:
        raise FinraBadData(f"FINRA's partitions list an impossible weekStartDate {week_start!r}") from None
    if monday.weekday() != 0:
        raise FinraBadData(f"FINRA's partitions list weekStartDate {week_start} ({monday.strftime('%A')}), "
                           f"expected a Monday")
    return monday + dt.timedelta(days=4)


def record_total(value: str | None, query: WeekQuery, offset: int) -> int | None:
    """The `Record-Total` header as a row count, None when absent."""
    if value is None:
        return None
    try:
        total = int(value.strip())
    except ValueError:
        total = -1
    if total < 0:
        raise FinraBadData(f"FINRA sent Record-Total {value!r} for {query.label} at offset {offset}, "
                           f"expected a row count")
    return total


def error_message(data: bytes) -> str:
    """The start of FINRA's error message: its `message` field when the body is JSON."""
    text = data.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        for key in ("message", "error", "detail", "errorMessage"):
            if isinstance(payload.get(key), str) and payload[key].strip():
                text = payload[key]
                break
    return one_line(text) or "(no message)"


@dataclasses.dataclass(frozen=True)
class CachedWeeks:
    """The published weeks as fetched from `base_url` at `fetched_at` (aware), kept as JSON."""

    base_url: str
    fetched_at: dt.datetime
    weeks: dict[Tier, tuple[dt.date, ...]]

    def to_json(self) -> dict:
        return {"base_url": self.base_url, "fetched_at": self.fetched_at.isoformat(),
                "weeks": {tier.value: [day.isoformat() for day in days] for tier, days in self.weeks.items()}}

    @classmethod
    def read(cls, path: Path) -> "CachedWeeks | None":
        """The cache in `path`, or None when it is missing or corrupt in any way."""
        try:
            data = store.read_json(path)
            weeks = {Tier(name): tuple(sorted(dt.date.fromisoformat(day) for day in days))
                     for name, days in data["weeks"].items()}
            fetched_at = dt.datetime.fromisoformat(data["fetched_at"])
            if fetched_at.tzinfo is None:
                fetched_at = fetched_at.replace(tzinfo=dt.timezone.utc)
            return cls(str(data["base_url"]), fetched_at, {tier: weeks.get(tier, ()) for tier in Tier})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


def one_line(text: str, limit: int = 200) -> str:
    """The start of a text on one line, for a message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."
