"""Normalize (`otc.normalize_week`): accept or reject each raw record by the first failing rule."""

from __future__ import annotations

import dataclasses
import enum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from otc.columns import all_distinct, count_true, pair_keys
from otc.context import StageContext
from otc.exact import round_ratio
from otc.reasons import Detail, RejectCode, RejectStage, Rule, first_failure, quoted, reject_rows
from otc.schemas import AVG_TRADE_SIZE, Table, conform

SYMBOL_PATTERN = r"^[A-Z][A-Z0-9.\-]{0,9}$"
#: The otc_raw columns normalize reads.
INPUT_COLUMNS = ["record_hash", "source_line_number", "symbol", "mpid", "total_shares", "total_trades"]
MPID_PATTERN = r"^[A-Z0-9]{4}$"


class Status(enum.StrEnum):
    """A raw record's outcome in otc_normalization_map."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


@dataclasses.dataclass(frozen=True)
class NormalizeResult:
    venue_volume: pa.Table
    normalization_map: pa.Table
    rejects: pa.Table

    @property
    def accepted(self) -> int:
        return self.venue_volume.num_rows

    @property
    def rejected(self) -> int:
        return self.rejects.num_rows


def normalize(
    raw: pa.Table, ctx: StageContext, source_locator: str, reject_zero_volume: bool = False
) -> NormalizeResult:
    """Every raw record, in file order, becomes ACCEPTED or REJECTED (rules: docs/tables.md)."""
    column = _columns(raw.select(INPUT_COLUMNS))
    order = column["source_line_number"].to_numpy()
    if np.any(order[1:] < order[:-1]):
        column = _columns(raw.select(INPUT_COLUMNS).sort_by("source_line_number"))
    n = raw.num_rows
    symbol = canonical_code(column["symbol"])
    mpid = canonical_code(column["mpid"])
    shares, trades, line_number = column["total_shares"], column["total_trades"], column["source_line_number"]
    rules: list[Rule] = [
        (RejectCode.INVALID_SYMBOL, pc.invert(pc.match_substring_regex(symbol, SYMBOL_PATTERN)),
         lambda rows: quoted("symbol='", pc.take(column["symbol"], rows))),
        (RejectCode.INVALID_MPID, pc.invert(pc.match_substring_regex(mpid, MPID_PATTERN)),
         lambda rows: quoted("mpid='", pc.take(column["mpid"], rows))),
        (RejectCode.NEGATIVE_VOLUME, pc.less(shares, 0), _assignment("total_shares", shares)),
        (RejectCode.NEGATIVE_TRADES, pc.less(trades, 0), _assignment("total_trades", trades)),
    ]
    if reject_zero_volume:
        rules.append((RejectCode.ZERO_VOLUME, pc.equal(shares, 0), _assignment("total_shares", shares)))
    rules.append(_duplicate_key_rule(rules, symbol, mpid, line_number))
    code, detail = first_failure(rules, n)
    accepted = pc.is_null(code)
    rejected = pc.invert(accepted)
    hashes = column["record_hash"]

    kept = count_true(accepted)
    everything = kept == n  # the usual case: no filtering, no copies

    def keep(values: pa.Array) -> pa.Array:
        return values if everything else values.filter(accepted)

    def accepted_or_null(values: pa.Array) -> pa.Array:
        return values if everything else pc.if_else(accepted, values, pa.scalar(None, values.type))

    norm_map = pa.table({
        **ctx.key_columns(n),
        "raw_record_hash": hashes,
        "symbol": accepted_or_null(symbol),
        "mpid": accepted_or_null(mpid),
        "status": pa.DictionaryArray.from_arrays(
            pc.cast(rejected, pa.int32()), pa.array([Status.ACCEPTED.value, Status.REJECTED.value])),
        "reject_reason": code,
        "reject_detail": detail,
        "created_at": ctx.timestamp(n),
    })
    good_shares, good_trades, good_lines = keep(shares), keep(trades), keep(line_number)
    venue_volume = pa.table({
        **ctx.key_columns(kept),
        "symbol": keep(symbol),
        "mpid": keep(mpid),
        "total_shares": good_shares,
        "total_trades": good_trades,
        "avg_trade_size": round_ratio(
            good_shares, good_trades, AVG_TRADE_SIZE,
            what=lambda row: f"avg_trade_size of line {good_lines[row]} "
                             f"({good_shares[row]} shares / {good_trades[row]} trades)"),
        "raw_record_hash": keep(hashes),
        "normalized_at": ctx.timestamp(kept),
    })
    rejected_rows = pa.array(np.flatnonzero(rejected.to_numpy(zero_copy_only=False)))
    rejects = reject_rows(
        ctx, RejectStage.NORMALIZE, source_locator,
        code.take(rejected_rows), detail.take(rejected_rows),
        line_number.take(rejected_rows),
        _raw_line({k: v.take(rejected_rows) for k, v in column.items()}, ctx),
        hashes.take(rejected_rows),
    )
    return NormalizeResult(
        conform(venue_volume, Table.VENUE_VOLUME),
        conform(norm_map, Table.NORMALIZATION_MAP),
        rejects,
    )


def _duplicate_key_rule(
    earlier: list[Rule], symbol: pa.Array, mpid: pa.Array, line_number: pa.Array
) -> Rule:
    """DUPLICATE_KEY: among records no earlier rule rejects, each (symbol, mpid) after its first."""
    passed = np.ones(len(symbol), dtype=bool)
    for _, failed, _ in earlier:
        passed &= ~pc.fill_null(failed, False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(passed)
    first_row = np.arange(len(symbol))
    if rows.size:
        if rows.size == len(symbol):
            keys = pair_keys(symbol, mpid)
        else:
            keys = pair_keys(symbol.filter(pa.array(passed)), mpid.filter(pa.array(passed)))
        if not all_distinct(keys):  # settles the usual "none repeat" cheaply
            _, first_pos, inverse = np.unique(keys, return_index=True, return_inverse=True)
            first_row[rows] = rows[first_pos[inverse]]
    duplicate = first_row != np.arange(len(symbol))

    def detail(dups: pa.Array) -> pa.Array:
        first_line = pc.take(line_number, pa.array(first_row[dups.to_numpy()]))
        return pc.binary_join_element_wise(
            "symbol=", pc.take(symbol, dups), " mpid=", pc.take(mpid, dups),
            " already accepted at line ", first_line.cast(pa.string()), "",
        )

    return RejectCode.DUPLICATE_KEY, duplicate, detail


def _assignment(name: str, values: pa.Array) -> Detail:
    return lambda rows: pc.binary_join_element_wise(f"{name}=", pc.take(values, rows).cast(pa.string()), "")


def canonical_code(values: pa.Array) -> pa.Array:
    """Trimmed and upper-cased (two plain kernels: cheaper than checking whether either is needed)."""
    return pc.utf8_upper(pc.utf8_trim_whitespace(values))


def _columns(table: pa.Table) -> dict[str, pa.Array]:
    return {name: table.column(name).combine_chunks() for name in table.column_names}


def _raw_line(column: dict[str, pa.Array], ctx: StageContext) -> pa.Array:
    """The record as a fixture-format line, so a NORMALIZE reject shows what was read."""
    return pc.binary_join_element_wise(
        ctx.week.isoformat(), ctx.tier.value, column["symbol"], column["mpid"],
        column["total_shares"].cast(pa.string()), column["total_trades"].cast(pa.string()),
        "|",
    )
