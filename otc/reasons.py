"""Reject reasons: codes, and picking the first failing rule per row, vectorised."""

from __future__ import annotations

import enum
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc


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


Rule = tuple[RejectCode, pa.Array, pa.Array]  # code, failed (bool), detail (string)


def first_failure(rules: Sequence[Rule], length: int) -> tuple[pa.Array, pa.Array]:
    """Per row, the code and detail of the first rule that failed; nulls where none did."""
    code = pa.nulls(length, pa.string())
    detail = pa.nulls(length, pa.string())
    for rule_code, failed, rule_detail in reversed(rules):
        failed = pc.fill_null(failed, False)
        code = pc.if_else(failed, pa.scalar(rule_code.value), code)
        detail = pc.if_else(failed, rule_detail, detail)
    return code, detail


def quoted(prefix: str, values: pa.Array, suffix: str = "'") -> pa.Array:
    """`prefix + value + suffix` per row, e.g. "Invalid total_shares: 'x'"."""
    return pc.binary_join_element_wise(prefix, pc.fill_null(values, ""), suffix, "")
