"""The weekly research report's content: plain values per section, computed from the week's tables.

Everything here is exact (ints and Decimals, as the tables hold them) and sorted; formatting
for people is the page's job (`otc.report_html`). Only the top-N rows of each section ever
become Python objects, so a week of thousands of symbols costs a few milliseconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from otc.exact import round_ratio
from otc.quality import CheckStatus
from otc.rolling import Trend
from otc.schemas import SHARE_PCT
from otc.tiers import Tier
from otc.weeks import HISTORY_WEEKS

TOP_SYMBOLS = 20
TOP_VENUES = 15  # the rest of the venues share one slice
TOP_MOVERS = 10  # each way
HISTORY_SYMBOLS = 10  # the first of the top symbols
REJECT_EXAMPLES = 3  # per reason
COUNT_NAMES = ("raw_lines", "normalized", "rejected", "skipped")
#: The columns the report reads of each table (the report stage reads no others).
SNAPSHOT_COLUMNS = ("symbol", "total_volume", "total_trades", "venue_count", "avg_trade_size", "top_venue_mpid",
                    "top_venue_share_pct", "rolling_avg_6w_volume", "rolling_trend_direction")
VENUE_SHARE_COLUMNS = ("mpid", "total_volume", "market_share_pct")
CHECK_COLUMNS = ("pipeline_name", "check_name", "check_category", "status", "check_value", "expected_value",
                 "tolerance", "message")
REJECT_COLUMNS = ("stage", "reason_code", "line_number", "reason_detail", "raw_line")
ROLLING_COLUMNS = ("symbol", "trend_direction", "trend_pct", "avg_6w_volume", "weeks_in_window")
HISTORY_COLUMNS = ("week_ending", "symbol", "total_volume")


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    """What one tier-week's report is made from; the tables as read from the build directory."""

    tier: str
    week_ending: dt.date
    batch_id: str
    built_at: dt.datetime
    counts: dict[str, int]  # raw_lines, normalized, rejected, skipped
    snapshot: pa.Table  # otc_research_snapshot of the tier-week
    venue_share: pa.Table  # otc_venue_share of the week
    checks: pa.Table  # otc_quality_checks of the week (aggregate, and rolling when present)
    rejects: pa.Table  # otc_rejects of the week (ingest and normalize)
    rolling: pa.Table | None  # otc_symbol_rolling_6w of the week, None without rolling
    history: pa.Table  # otc_symbol_summary up to week_ending: week_ending, symbol, total_volume


@dataclasses.dataclass(frozen=True)
class Counts:
    raw_lines: int
    normalized: int
    rejected: int
    skipped: int


@dataclasses.dataclass(frozen=True)
class RejectExample:
    line_number: int | None
    detail: str | None
    raw_line: str | None


@dataclasses.dataclass(frozen=True)
class RejectReason:
    """How many lines one stage rejected for one reason, and the first few of them."""

    stage: str
    code: str
    count: int
    examples: tuple[RejectExample, ...]


@dataclasses.dataclass(frozen=True)
class CheckRow:
    pipeline: str
    name: str
    category: str
    status: str
    value: str | None
    expected: str | None
    tolerance: str | None
    message: str | None


@dataclasses.dataclass(frozen=True)
class SymbolRow:
    """One of the week's top symbols; the rolling fields are None without rolling data."""

    rank: int
    symbol: str
    total_volume: int
    total_trades: int
    venue_count: int
    avg_trade_size: Decimal | None
    top_venue_mpid: str | None
    top_venue_share_pct: Decimal | None
    avg_6w_volume: int | None
    trend_direction: str | None
    trend_pct: Decimal | None


@dataclasses.dataclass(frozen=True)
class VenueSlice:
    """A venue's share of the week's volume, or (`rest`) that of all venues past the top 15."""

    label: str
    total_volume: int
    share_pct: Decimal
    venues: int
    rest: bool = False


@dataclasses.dataclass(frozen=True)
class Mover:
    symbol: str
    trend_pct: Decimal
    avg_6w_volume: int
    weeks_in_window: int
    total_volume: int | None  # this week's; None when the symbol did not trade this week


@dataclasses.dataclass(frozen=True)
class VolumeSeries:
    symbol: str
    volumes: tuple[int | None, ...]  # one per History.weeks; None: no summary that week (a gap)


@dataclasses.dataclass(frozen=True)
class History:
    weeks: tuple[dt.date, ...]  # every Friday from the first week with data, oldest first
    series: tuple[VolumeSeries, ...]  # in the order of the top symbols


@dataclasses.dataclass(frozen=True)
class ReportModel:
    tier: str
    week_ending: dt.date
    batch_id: str
    built_at: dt.datetime
    quality_status: str  # the worst status among the week's checks
    counts: Counts
    symbol_count: int
    venue_count: int
    total_volume: int
    total_trades: int
    rejects: tuple[RejectReason, ...]
    checks: tuple[CheckRow, ...]
    top_symbols: tuple[SymbolRow, ...]
    venue_share: tuple[VenueSlice, ...]
    has_rolling: bool
    movers_up: tuple[Mover, ...]
    movers_down: tuple[Mover, ...]
    history: History


def build_report_model(inputs: ReportInputs) -> ReportModel:
    """The report's sections for one tier-week; `inputs` is not changed."""
    snapshot = inputs.snapshot
    top = top_symbols(snapshot, inputs.rolling)
    up, down = movers(inputs.rolling, snapshot)
    return ReportModel(
        tier=Tier(inputs.tier).value,
        week_ending=inputs.week_ending,
        batch_id=inputs.batch_id,
        built_at=inputs.built_at,
        quality_status=CheckStatus.worst(_column(inputs.checks, "status").to_pylist()).value,
        counts=counts(inputs.counts),
        symbol_count=snapshot.num_rows,
        venue_count=inputs.venue_share.num_rows,
        total_volume=_sum(snapshot["total_volume"]),
        total_trades=_sum(snapshot["total_trades"]),
        rejects=rejects_by_reason(inputs.rejects),
        checks=check_rows(inputs.checks),
        top_symbols=top,
        venue_share=venue_slices(inputs.venue_share),
        has_rolling=inputs.rolling is not None and inputs.rolling.num_rows > 0,
        movers_up=up,
        movers_down=down,
        history=volume_history(inputs.history, [row.symbol for row in top[:HISTORY_SYMBOLS]],
                               inputs.week_ending),
    )


def counts(values: dict[str, int]) -> Counts:
    missing = [name for name in COUNT_NAMES if name not in values]
    if missing:
        raise KeyError(f"report counts lack {', '.join(missing)}")
    return Counts(*(int(values[name]) for name in COUNT_NAMES))


def top_symbols(snapshot: pa.Table, rolling: pa.Table | None, limit: int = TOP_SYMBOLS) -> tuple[SymbolRow, ...]:
    """The symbols with the most volume, ties to the smaller symbol; trend_pct from rolling."""
    rows = _top(snapshot, limit, [("total_volume", "descending"), ("symbol", "ascending")])
    trend = _by_symbol(rolling, [r["symbol"] for r in rows], ["trend_pct"])
    return tuple(
        SymbolRow(
            rank=rank,
            symbol=r["symbol"],
            total_volume=r["total_volume"],
            total_trades=r["total_trades"],
            venue_count=r["venue_count"],
            avg_trade_size=r["avg_trade_size"],
            top_venue_mpid=r["top_venue_mpid"],
            top_venue_share_pct=r["top_venue_share_pct"],
            avg_6w_volume=r["rolling_avg_6w_volume"],
            trend_direction=r["rolling_trend_direction"],
            trend_pct=trend.get(r["symbol"], {}).get("trend_pct"),
        )
        for rank, r in enumerate(rows, start=1)
    )


def venue_slices(venue_share: pa.Table, limit: int = TOP_VENUES) -> tuple[VenueSlice, ...]:
    """The top venues by volume (ties to the smaller MPID) and one slice for all the others.

    A venue's share is its market_share_pct; the rest's is computed by the same rule from the
    rest's volume (100 * volume / week volume, 4 dp, half away from zero). The slices' volumes
    add up to the week's exactly; their shares to 100 give or take the rounding of each.
    """
    top = _top(venue_share, limit, [("total_volume", "descending"), ("mpid", "ascending")])
    slices = [VenueSlice(r["mpid"], r["total_volume"], r["market_share_pct"], 1) for r in top]
    others = venue_share.num_rows - len(top)
    if others > 0:
        total = _sum(venue_share["total_volume"])
        rest = total - sum(s.total_volume for s in slices)
        share = round_ratio(np.array([rest]), np.array([total]), SHARE_PCT, multiplier=100)[0].as_py()
        label = f"{others} other venue" + ("s" if others > 1 else "")
        slices.append(VenueSlice(label, rest, share, others, rest=True))
    return tuple(slices)


def movers(rolling: pa.Table | None, snapshot: pa.Table, limit: int = TOP_MOVERS
           ) -> tuple[tuple[Mover, ...], tuple[Mover, ...]]:
    """The symbols trending UP most and DOWN most over 6 weeks (by trend_pct, ties to the smaller
    symbol), with this week's volume; empty without rolling data."""
    if rolling is None or rolling.num_rows == 0:
        return (), ()
    found = []
    for direction, order in ((Trend.UP, "descending"), (Trend.DOWN, "ascending")):
        rows = rolling.filter(pc.equal(_column(rolling, "trend_direction"), direction.value))
        found.append(_top(rows, limit, [("trend_pct", order), ("symbol", "ascending")]))
    volume = _by_symbol(snapshot, [r["symbol"] for rows in found for r in rows], ["total_volume"])
    up, down = (
        tuple(Mover(r["symbol"], r["trend_pct"], r["avg_6w_volume"], r["weeks_in_window"],
                    volume.get(r["symbol"], {}).get("total_volume")) for r in rows)
        for rows in found
    )
    return up, down


def volume_history(history: pa.Table, symbols: list[str], week: dt.date, weeks: int = HISTORY_WEEKS) -> History:
    """Weekly volume of `symbols` over up to `weeks` Fridays ending at `week`.

    The weeks run from the first one with any summary in that span (not necessarily one of
    `symbols`') to `week`, every Friday, so a week that was never built shows as a gap like a
    week a symbol did not trade: a missing summary is a gap (None), not a zero volume.
    """
    first = week - dt.timedelta(weeks=weeks - 1)
    when = history["week_ending"]
    in_span = pc.and_(pc.greater_equal(when, pa.scalar(first, pa.date32())),
                      pc.less_equal(when, pa.scalar(week, pa.date32())))
    start = pc.min(when.filter(in_span)).as_py() or week  # only the dates are filtered: cheaper
    fridays = tuple(start + dt.timedelta(weeks=i) for i in range((week - start).days // 7 + 1))
    followed = pc.is_in(_column(history, "symbol"), value_set=pa.array(symbols, pa.string()))
    wanted = history.filter(pc.and_(in_span, followed))
    volumes = {s: [None] * len(fridays) for s in symbols}
    position = {friday: i for i, friday in enumerate(fridays)}
    for row in wanted.select(["week_ending", "symbol", "total_volume"]).to_pylist():
        volumes[row["symbol"]][position[row["week_ending"]]] = row["total_volume"]
    return History(fridays, tuple(VolumeSeries(s, tuple(volumes[s])) for s in symbols))


def rejects_by_reason(rejects: pa.Table, examples: int = REJECT_EXAMPLES) -> tuple[RejectReason, ...]:
    """Rejected lines per (stage, reason): most frequent first, then INGEST before NORMALIZE
    and by code; with the first `examples` lines of each, by line number."""
    if rejects.num_rows == 0:
        return ()
    keys = pa.table({
        "stage": _column(rejects, "stage"),
        "code": _column(rejects, "reason_code"),
        "line": rejects["line_number"],
    })
    order = pc.sort_indices(keys, [("stage", "ascending"), ("code", "ascending"), ("line", "ascending")])
    stage = keys["stage"].take(order).to_numpy(zero_copy_only=False)
    code = keys["code"].take(order).to_numpy(zero_copy_only=False)
    new_group = np.r_[True, (stage[1:] != stage[:-1]) | (code[1:] != code[:-1])]
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, len(stage)))
    within = np.arange(len(stage)) - np.repeat(starts, sizes)
    picked = order.take(pa.array(np.flatnonzero(within < examples)))
    shown = rejects.select(["line_number", "reason_detail", "raw_line"]).take(picked).to_pylist()
    reasons, at = [], 0
    for group_start, size in zip(starts.tolist(), sizes.tolist()):
        n = min(size, examples)
        sample = tuple(RejectExample(r["line_number"], r["reason_detail"], r["raw_line"]) for r in shown[at:at + n])
        reasons.append(RejectReason(str(stage[group_start]), str(code[group_start]), size, sample))
        at += n
    return tuple(sorted(reasons, key=lambda r: -r.count))  # stable: keeps stage and code order


def check_rows(checks: pa.Table) -> tuple[CheckRow, ...]:
    """The week's checks in the order of the table (aggregate's, then rolling's as the stages
    wrote them)."""
    names = list(CHECK_COLUMNS)
    return tuple(CheckRow(*(row[n] for n in names)) for row in checks.select(names).to_pylist())


def _top(table: pa.Table, limit: int, sort_keys: list[tuple[str, str]]) -> list[dict]:
    """The first `limit` rows in `sort_keys` order, as dicts (the only rows made Python objects)."""
    if table.num_rows == 0 or limit <= 0:
        return []
    keys = pa.table({name: _column(table, name) for name, _ in sort_keys})
    picked = pc.select_k_unstable(keys, k=min(limit, table.num_rows), sort_keys=sort_keys)
    return table.take(picked).to_pylist()


def _by_symbol(table: pa.Table | None, symbols: list[str], columns: list[str]) -> dict[str, dict]:
    """`columns` of the rows of `table` whose symbol is in `symbols`, by symbol."""
    if table is None or not symbols:
        return {}
    rows = table.filter(pc.is_in(_column(table, "symbol"), value_set=pa.array(symbols, pa.string())))
    return {r["symbol"]: r for r in rows.select(["symbol", *columns]).to_pylist()}


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """A column with dictionary encoding undone: Arrow sorts and compares plain values only."""
    column = table[name]
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _sum(column: pa.ChunkedArray) -> int:
    return int(pc.sum(column).as_py() or 0)
