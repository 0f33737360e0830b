"""Rolling 6 weeks (`otc.compute_rolling_6w`): per-symbol averages and trend over a window."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from otc.columns import count_true, string_ranks
from otc.context import StageContext
from otc.errors import ValueOutOfRange
from otc.exact import decimal_from_unscaled, round_ratio
from otc.lineage import PipelineName
from otc.quality import Check, CheckCategory, CheckStatus, checks_table
from otc.schemas import ROLLING_VERSION, TREND_PCT, Table, conform
from otc.weeks import WINDOW_WEEKS

TREND_THRESHOLD_PCT = 5
_HUNDRED_PCT = 100 * 10**TREND_PCT.scale
_INT64_LIMIT = 2**63
#: What rolling reads of each week's otc_symbol_summary.
INPUT_COLUMNS = ["week_ending", "symbol", "total_volume", "total_trades"]


class Trend(str, enum.Enum):
    UP = "UP"
    DOWN = "DOWN"
    FLAT = "FLAT"


@dataclasses.dataclass(frozen=True)
class RollingResult:
    rolling: pa.Table
    checks: pa.Table


def rolling_6w(summaries: pa.Table, window: list[dt.date], ctx: StageContext) -> RollingResult:
    """Averages and trend per symbol over the summaries of the window's weeks.

    `summaries` holds otc_symbol_summary rows (at least INPUT_COLUMNS); rows outside
    `window` are ignored.
    """
    in_window = pc.is_in(summaries["week_ending"], value_set=pa.array(window, pa.date32()))
    rows = summaries if pc.all(in_window).as_py() else summaries.filter(in_window)
    symbol, symbol_rank, _ = string_ranks(rows["symbol"])
    # by symbol, then week: sorted on integers (see string_ranks)
    order = np.lexsort((rows["week_ending"].cast(pa.int32()).to_numpy(), symbol_rank))
    symbol_rank = symbol_rank[order]
    volume = rows["total_volume"].to_numpy()[order]
    trades = rows["total_trades"].to_numpy()[order]
    for name, values in (("total_volume", volume), ("total_trades", trades)):
        # six weeks must add up within int64, exactly; refuse rather than wrap around
        if values.size and int(np.abs(values).max()) >= _INT64_LIMIT // WINDOW_WEEKS:
            raise ValueOutOfRange(f"weekly {name} too large to add up over {WINDOW_WEEKS} weeks in int64")

    starts = np.flatnonzero(np.r_[True, symbol_rank[1:] != symbol_rank[:-1]]) if len(order) else order
    ends = np.append(starts[1:], len(order)).astype(np.int64)
    weeks = ends - starts
    first, last = _trend_ends(volume, starts, ends, weeks)
    pct, direction = trend(first, last)
    n = len(starts)
    rolling = pa.table({
        **ctx.key_columns(n),
        "symbol": symbol.dictionary.take(symbol.indices.take(pa.array(order[starts]))),
        "avg_6w_volume": np.add.reduceat(volume, starts) // weeks if n else np.array([], np.int64),
        "avg_6w_trades": np.add.reduceat(trades, starts) // weeks if n else np.array([], np.int64),
        "trend_direction": direction,
        "trend_pct": pct,
        "weeks_in_window": weeks,
        "is_complete_window": weeks == WINDOW_WEEKS,
        "rolling_version": pa.repeat(pa.scalar(ROLLING_VERSION), n),
        "calculated_at": ctx.timestamp(n),
    })
    rolling = conform(rolling, Table.ROLLING_6W)
    return RollingResult(rolling, checks_table(ctx, PipelineName.ROLLING, rolling_checks(rolling)))


def trend(first: np.ndarray, last: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """trend_pct = (last - first) / first * 100 (2 dp), and UP / DOWN / FLAT beyond +-5 %.

    When first is 0 the change has no ratio: UP 100 if last > 0, else FLAT 0.
    """
    unscaled = _unscaled(round_ratio(last - first, first, TREND_PCT, multiplier=100))
    from_zero = first == 0
    unscaled = np.where(from_zero, np.where(last > 0, _HUNDRED_PCT, 0), unscaled)
    threshold = TREND_THRESHOLD_PCT * 10**TREND_PCT.scale
    code = np.where(unscaled > threshold, 0, np.where(unscaled < -threshold, 1, 2)).astype(np.int8)
    direction = pa.array([Trend.UP.value, Trend.DOWN.value, Trend.FLAT.value], pa.string()).take(code)
    return decimal_from_unscaled(unscaled, TREND_PCT), direction


def rolling_checks(rolling: pa.Table) -> list[Check]:
    total = rolling.num_rows
    complete = count_true(rolling["is_complete_window"])
    share = (Decimal(100 * complete) / Decimal(total)).quantize(Decimal("0.1"), ROUND_HALF_UP) if total else Decimal("0.0")
    enough = total > 0 and 2 * complete >= total
    zero = count_true(pc.or_(pc.equal(rolling["avg_6w_volume"], 0), pc.equal(rolling["avg_6w_trades"], 0)))
    return [
        Check(
            "rolling_window_complete", CheckCategory.COMPLETENESS,
            CheckStatus.PASS if enough else CheckStatus.WARN,
            f"{complete}/{total} ({share}%)", ">= 50%", "0",
            f"{complete} of {total} symbols have all {WINDOW_WEEKS} weeks",
        ),
        Check(
            "no_zero_rolling_volume", CheckCategory.INTEGRITY,
            CheckStatus.WARN if zero else CheckStatus.PASS,
            str(zero), "0", "0",
            f"{zero} symbols have a zero 6-week average" if zero else "No zero 6-week averages",
        ),
    ]


def _trend_ends(volume: np.ndarray, starts: np.ndarray, ends: np.ndarray, weeks: np.ndarray):
    """Per symbol, what trend compares: 2 weeks -> first vs last week; 3+ -> sums of the first
    two vs the last two (the means' halves cancel in the ratio); 1 week -> equal, i.e. FLAT 0."""
    if len(starts) == 0:
        return np.array([], np.int64), np.array([], np.int64)
    v_first, v_last = volume[starts], volume[ends - 1]
    second = volume[np.minimum(starts + 1, ends - 1)]
    second_last = volume[np.maximum(ends - 2, starts)]
    many = weeks >= 3
    first = np.where(many, v_first + second, v_first)
    last = np.where(many, second_last + v_last, np.where(weeks == 1, v_first, v_last))
    return first.astype(np.int64), last.astype(np.int64)


def _unscaled(decimals: pa.Array) -> np.ndarray:
    words = np.frombuffer(decimals.buffers()[1], dtype=np.int64).reshape(-1, 2)
    return words[decimals.offset: decimals.offset + len(decimals), 0].copy()
