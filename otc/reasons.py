"""Reject reasons: codes, and picking the first failing rule per row, vectorised."""

from __future__ import annotations

import enum
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from otc.context import StageContext
from otc.schemas import Table, conform


class RejectCode(str, enum.Enum):
    PARSE_ERROR = "PARSE_ERROR"
    INVALID_SYMBOL = "INVALID_SYMBOL"
    INVALID_MPID = "INVALID_MPID"
    NEGATIVE_VOLUME = "NEGATIVE_VOLUME"
    NEGATIVE_TRADES = "NEGATIVE_TRADES"
    ZERO_VOLUME = "ZERO_VOLUME"
    DUPLICATE_KEY = "DUPLICATE_KEY"


class RejectStage(str, enum.Enum):
    INGEST = "INGEST"
    NORMALIZE = "NORMALIZE"


#: Builds the detail text of the rows (given by their indices) that failed a rule.
Detail = Callable[[pa.Array], pa.Array]
Rule = tuple[RejectCode, pa.Array | np.ndarray, Detail]  # code, failed mask, detail


def first_failure(rules: Sequence[Rule], length: int) -> tuple[pa.Array, pa.Array]:
    """Per row, the code and detail of the first rule that failed; nulls where none did.

    Details are built only for the rows a rule rejects, so clean rows cost one mask each.
    """
    winner = np.full(length, -1, dtype=np.int64)
    for i, (_, failed, _) in enumerate(rules):
        winner[(winner < 0) & _mask(failed)] = i
    if not np.any(winner >= 0):
        return pa.nulls(length, pa.string()), pa.nulls(length, pa.string())
    codes = pa.array([code.value for code, _, _ in rules], pa.string())
    code = pc.take(codes, pa.array(winner, mask=winner < 0))
    pieces, order = [], []
    for i, (_, _, detail) in enumerate(rules):
        rows = np.flatnonzero(winner == i)
        if rows.size:
            pieces.append(detail(pa.array(rows)).cast(pa.string()))
            order.append(rows)
    details = pa.concat_arrays(pieces)
    position = np.full(length, -1, dtype=np.int64)
    position[np.concatenate(order)] = np.arange(len(details))
    return code, pc.take(details, pa.array(position, mask=position < 0))


QUOTED_MAX_CHARS = 200


def quoted(prefix: str, values: pa.Array, suffix: str = "'") -> pa.Array:
    """`prefix + value + suffix` per row, e.g. "Invalid total_shares: 'x'"; long values are cut
    (to 200 characters) so a reject's detail stays readable."""
    values = pc.fill_null(values, "")
    cut = pc.if_else(pc.greater(pc.utf8_length(values), QUOTED_MAX_CHARS),
                     pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, QUOTED_MAX_CHARS), "...", ""),
                     values)
    return pc.binary_join_element_wise(prefix, cut, suffix, "")


def _mask(failed: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    if isinstance(failed, np.ndarray):
        return failed.astype(bool, copy=False)
    return pc.fill_null(failed, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


RAW_LINE_MAX_CHARS = 500


def reject_rows(
    ctx: StageContext,
    stage: RejectStage,
    source_locator: str,
    code: pa.Array,
    detail: pa.Array,
    line_number: pa.Array,
    raw_line: pa.Array,
    raw_record_hash: pa.Array,
) -> pa.Table:
    """Rows of otc_rejects for one stage, in line order."""
    n = len(code)
    table = pa.table({
        **ctx.key_columns(n),
        "stage": pa.repeat(pa.scalar(stage.value), n),
        "reason_code": code,
        "reason_detail": detail,
        "source_locator": pa.repeat(pa.scalar(source_locator), n),
        "line_number": line_number,
        "raw_line": pc.utf8_slice_codeunits(raw_line, 0, RAW_LINE_MAX_CHARS),
        "raw_record_hash": raw_record_hash,
        "created_at": ctx.timestamp(n),
    })
    return conform(table.sort_by([("line_number", "ascending")]), Table.REJECTS)
