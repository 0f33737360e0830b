"""Small vectorised helpers on Arrow columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def as_dictionary(values: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """`values` as one dictionary array; chunks read from Parquet (a dictionary per row
    group) are unified into one dictionary."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)


def string_ranks(values: pa.Array | pa.ChunkedArray) -> tuple[pa.DictionaryArray, np.ndarray, pa.Array]:
    """`values` dictionary-encoded; each row's rank (from 1) in ascending order of the distinct
    values; and the distinct values in that order (rank r is `ordered[r - 1]`).

    Rows then sort and group on integers, which is several times quicker than on strings,
    and only the distinct values are compared as strings.
    """
    encoded = as_dictionary(values)
    order = pc.sort_indices(encoded.dictionary)
    ordered = encoded.dictionary.take(order)
    # a dictionary built from several may repeat a value: equal values share a rank
    first = np.ones(len(ordered), dtype=bool)
    if len(ordered) > 1:
        first[1:] = pc.not_equal(ordered[1:], ordered[:-1]).to_numpy(zero_copy_only=False)
    ranks = np.empty(len(ordered), dtype=np.int64)
    ranks[order.to_numpy()] = np.cumsum(first)
    return encoded, ranks[encoded.indices.to_numpy(zero_copy_only=False)], ordered.filter(pa.array(first))


def pair_keys(first: pa.Array | pa.ChunkedArray, second: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One int64 per row, equal exactly when both columns' values are: built from their
    dictionary codes."""
    first, second = as_dictionary(first), as_dictionary(second)
    width = max(len(second.dictionary), 1)
    return (first.indices.to_numpy(zero_copy_only=False).astype(np.int64) * width
            + second.indices.to_numpy(zero_copy_only=False).astype(np.int64))


def all_distinct(keys: np.ndarray) -> bool:
    """Whether no two integer keys are equal: marked in a table of flags when they span a
    small range (dictionary codes), else checked on a sorted copy. Both stay lean at every
    size, where Arrow's hash-based `unique` slows down and grows large on millions of
    spread-out keys."""
    if keys.dtype.kind not in "iu":
        raise TypeError(f"all_distinct takes integer keys, not {keys.dtype}")
    if len(keys) < 2:
        return True
    keys = keys.astype(np.uint64 if keys.dtype.kind == "u" else np.int64, copy=False)  # no narrow wrap-around
    low, high = int(keys.min()), int(keys.max())
    if high - low < 16 * len(keys):  # at most 16 bytes of flags a key
        seen = np.zeros(high - low + 1, dtype=bool)
        seen[(keys - keys.dtype.type(low)).astype(np.intp)] = True
        return int(np.count_nonzero(seen)) == len(keys)
    ordered = np.sort(keys)
    return not bool(np.any(ordered[1:] == ordered[:-1]))


def count_true(mask: pa.Array | pa.ChunkedArray) -> int:
    """How many values of a boolean column are true (nulls count as false)."""
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
