"""Exact rounded ratios: integer maths only, ties rounded half away from zero."""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

import numpy as np
import pyarrow as pa

from otc.errors import ValueOutOfRange

_INT64_MAX = 2**63 - 1


def round_ratio(
    numerator: pa.Array | np.ndarray,
    denominator: pa.Array | np.ndarray,
    type_: pa.Decimal128Type,
    multiplier: int = 1,
    what: Callable[[int], str] | None = None,
) -> pa.Array:
    """`numerator * multiplier / denominator` rounded to `type_`'s scale; 0 where denominator is 0.

    Rounding is Decimal's ROUND_HALF_UP (half away from zero), computed in int64 where no
    intermediate can overflow and with Python integers for the rare rows where one could.
    A value that does not fit `type_` raises ValueOutOfRange, described by `what(row)`.
    """
    try:
        return _round_ratio(numerator, denominator, type_, multiplier)
    except ValueOutOfRange as exc:
        if what is None or exc.row is None:
            raise
        raise ValueOutOfRange(f"{what(exc.row)} does not fit {type_}", exc.row) from None


def _round_ratio(numerator, denominator, type_: pa.Decimal128Type, multiplier: int) -> pa.Array:
    num = _int64(numerator)
    den = _int64(denominator)
    if np.any(den < 0):
        raise ValueError("round_ratio needs a non-negative denominator")
    factor = multiplier * 10**type_.scale
    magnitude = np.abs(num)  # int64 min has no positive twin: such rows take the slow path
    fast = (num > -_INT64_MAX) & (magnitude <= _INT64_MAX // (4 * factor)) & (den <= 2**61)
    safe_den = np.where(den == 0, 1, den)
    unscaled = np.where(fast, (2 * magnitude * factor + safe_den) // (2 * safe_den), 0)
    unscaled = np.where(num < 0, -unscaled, unscaled)
    unscaled = np.where(den == 0, 0, unscaled)
    slow = {}
    for i in np.flatnonzero(~fast & (den != 0)):
        n, d = int(num[i]), int(den[i])
        q = (2 * abs(n) * factor + d) // (2 * d)
        slow[int(i)] = _fit(-q if n < 0 else q, type_, int(i))
    if any(abs(q) > _INT64_MAX for q in slow.values()):  # only wide types get here
        values = [slow.get(i, int(u)) for i, u in enumerate(unscaled.tolist())]
        return pa.array([Decimal(v).scaleb(-type_.scale) for v in values], type_)
    for i, q in slow.items():
        unscaled[i] = q
    return decimal_from_unscaled(unscaled, type_)


def decimal_from_unscaled(unscaled: np.ndarray, type_: pa.Decimal128Type) -> pa.Array:
    """A decimal128 array whose i-th value is `unscaled[i] / 10**scale`, exactly."""
    unscaled = np.ascontiguousarray(unscaled, dtype=np.int64)
    if unscaled.size and type_.precision < 19:
        too_big = np.abs(unscaled) >= 10**type_.precision
        if too_big.any():
            raise ValueOutOfRange(f"a value does not fit {type_}", int(np.argmax(too_big)))
    words = np.empty((unscaled.size, 2), dtype=np.int64)
    words[:, 0] = unscaled  # decimal128 is 128-bit little-endian two's complement
    words[:, 1] = unscaled >> 63
    return pa.Array.from_buffers(type_, unscaled.size, [None, pa.py_buffer(words.tobytes())])


def _fit(value: int, type_: pa.Decimal128Type, row: int) -> int:
    if abs(value) >= 10**type_.precision:
        raise ValueOutOfRange(f"a value does not fit {type_}", row)
    return value


def _int64(values: pa.Array | np.ndarray) -> np.ndarray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.int64)
