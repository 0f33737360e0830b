"""Aggregate (`otc.aggregate_week`): per-symbol summary, per-venue market share, quality checks."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from otc.columns import all_distinct, count_true, pair_keys
from otc.context import StageContext
from otc.errors import OtcError
from otc.lineage import PipelineName
from otc.exact import round_ratio
from otc.quality import (
    Check, CheckCategory, CheckStatus, checks_table, positive_count_check, zero_count_check,
)
from otc.schemas import AVG_TRADE_SIZE, CALCULATION_VERSION, SHARE_PCT, Table, conform

SHARE_SUM_LOW, SHARE_SUM_HIGH = Decimal("99.9"), Decimal("100.1")


@dataclasses.dataclass(frozen=True)
class AggregateResult:
    symbol_summary: pa.Table
    venue_share: pa.Table
    checks: pa.Table


#: The otc_venue_volume columns aggregate reads.
INPUT_COLUMNS = ["symbol", "mpid", "total_shares", "total_trades"]


def aggregate(venue_volume: pa.Table, ctx: StageContext) -> AggregateResult:
    """Totals per symbol and per MPID of one tier-week's accepted rows."""
    venue_volume = venue_volume.unify_dictionaries()  # Parquet gives each row group its own
    _check_no_overflow(venue_volume)
    # a venue is a distinct MPID; normalize accepts each (symbol, mpid) once, so counting
    # rows is the same, and much cheaper, whenever no pair repeats
    venues = "count" if all_distinct(pair_keys(venue_volume["symbol"], venue_volume["mpid"])) else "count_distinct"
    by_symbol = _sorted_by_key(
        venue_volume.group_by("symbol").aggregate([("total_shares", "sum"), ("total_trades", "sum"), ("mpid", venues)]),
        "symbol",
    )
    volume = _int64(by_symbol["total_shares_sum"])
    trades = _int64(by_symbol["total_trades_sum"])
    n = by_symbol.num_rows
    summary = pa.table({
        **ctx.key_columns(n),
        "symbol": by_symbol["symbol"],
        "total_volume": volume,
        "total_trades": trades,
        "venue_count": by_symbol[f"mpid_{venues}"].cast(pa.int64()),
        "avg_trade_size": round_ratio(
            volume, trades, AVG_TRADE_SIZE,
            what=lambda row: f"avg_trade_size of symbol {by_symbol['symbol'][row]} "
                             f"({volume[row]} shares / {trades[row]} trades)"),
        "calculation_version": pa.repeat(pa.scalar(CALCULATION_VERSION), n),
        "calculated_at": ctx.timestamp(n),
    })

    by_mpid = _sorted_by_key(
        venue_volume.group_by("mpid").aggregate([("total_shares", "sum"), ("total_trades", "sum")]), "mpid"
    )
    mpid_volume = _int64(by_mpid["total_shares_sum"])
    week_volume = int(pc.sum(mpid_volume).as_py() or 0)
    m = by_mpid.num_rows
    share = round_ratio(mpid_volume, pa.repeat(pa.scalar(week_volume), m), SHARE_PCT, multiplier=100)
    venue_share = pa.table({
        **ctx.key_columns(m),
        "mpid": by_mpid["mpid"],
        "total_volume": mpid_volume,
        "total_trades": _int64(by_mpid["total_trades_sum"]),
        "market_share_pct": share,
        "calculation_version": pa.repeat(pa.scalar(CALCULATION_VERSION), m),
        "calculated_at": ctx.timestamp(m),
    })

    checks = [
        zero_count_check("no_negative_volumes", CheckCategory.INTEGRITY,
                         count_true(pc.less(venue_volume["total_shares"], 0)), "negative volumes"),
        zero_count_check("no_negative_trades", CheckCategory.INTEGRITY,
                         count_true(pc.less(venue_volume["total_trades"], 0)), "negative trade counts"),
        _share_sum_check(share),
        zero_count_check("no_duplicate_symbols", CheckCategory.INTEGRITY,
                         n - len(pc.unique(summary["symbol"])), "duplicate symbols"),
        positive_count_check("symbol_count_positive", n, "symbols"),
        positive_count_check("venue_count_positive", m, "venues"),
    ]
    return AggregateResult(
        conform(summary, Table.SYMBOL_SUMMARY),
        conform(venue_share, Table.VENUE_SHARE),
        checks_table(ctx, PipelineName.AGGREGATE, checks),
    )


def _share_sum_check(share: pa.Array) -> Check:
    total = Decimal(pc.sum(share).as_py() or 0).quantize(Decimal("0.0001"))
    ok = SHARE_SUM_LOW <= total <= SHARE_SUM_HIGH
    return Check(
        "market_share_sum_100", CheckCategory.BUSINESS_RULE,
        CheckStatus.PASS if ok else CheckStatus.FAIL,
        str(total), "100", "0.1",
        f"Market shares sum to {total}%" + ("" if ok else f", outside [{SHARE_SUM_LOW}, {SHARE_SUM_HIGH}]"),
    )


def _check_no_overflow(venue_volume: pa.Table) -> None:
    """Sums are int64: refuse a week whose totals could wrap rather than return a wrong number."""
    n = venue_volume.num_rows
    for name in ("total_shares", "total_trades"):
        values = venue_volume[name]
        largest = max(abs(pc.min(values).as_py() or 0), abs(pc.max(values).as_py() or 0))
        if n * largest < 2**63:
            continue  # no sum of n values this small can leave the range
        magnitude = pc.abs(values.cast(pa.decimal128(38, 0)))
        if (pc.sum(magnitude).as_py() or 0) >= 2**63:
            raise OtcError(f"{name} of the week add up beyond the int64 range; refusing to aggregate")


def _sorted_by_key(grouped: pa.Table, key: str) -> pa.Table:
    """Groups in key order; a dictionary-encoded key becomes plain strings first (Arrow sorts those)."""
    if pa.types.is_dictionary(grouped.schema.field(key).type):
        position = grouped.schema.get_field_index(key)
        grouped = grouped.set_column(position, key, grouped[key].cast(pa.string()))
    return grouped.sort_by(key)


def _int64(values: pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks().cast(pa.int64()) if values.num_chunks else pa.array([], pa.int64())
