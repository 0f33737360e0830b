"""Small column helpers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from otc.columns import all_distinct, as_dictionary, count_true, pair_keys, string_ranks


@pytest.mark.parametrize(
    ("keys", "distinct"),
    [
        pytest.param([], True, id="empty"),
        pytest.param([5], True, id="one"),
        pytest.param([3, 1, 2], True, id="unsorted-distinct"),
        pytest.param([3, 1, 3], False, id="repeat-apart"),
        pytest.param([0, 0], False, id="repeat-adjacent"),
        pytest.param([2**64 - 1, 0, 2**63], True, id="uint64-extremes"),
        pytest.param([2**64 - 1, 0, 2**64 - 1], False, id="uint64-extremes-repeat"),
        pytest.param([10**6 + 3, 10**6, 10**6 + 3], False, id="small-range-far-from-zero"),
    ],
)
@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_all_distinct(keys, distinct, dtype):
    if dtype is np.int64 and max(keys, default=0) >= 2**63:
        keys = [k - 2**63 for k in keys]  # the same pattern, shifted into int64
    assert all_distinct(np.array(keys, dtype=dtype)) is distinct


@pytest.mark.parametrize("size", [10, 100_000])
def test_all_distinct_dense_and_spread_keys_agree_with_python(size):
    rng = np.random.default_rng(size)
    for keys in (rng.integers(0, 2 * size, size), rng.integers(-(2**62), 2**62, size)):
        assert all_distinct(keys) is (len(set(keys.tolist())) == size)
        assert all_distinct(np.unique(keys)) is True


def test_all_distinct_leaves_its_input_in_place():
    keys = np.array([3, 1, 2], dtype=np.int64)
    all_distinct(keys)
    assert keys.tolist() == [3, 1, 2]


def test_all_distinct_on_narrow_integers_does_not_wrap_around():
    keys = np.array([-100, 100, 82, 27, *range(-99, -87)], dtype=np.int8)
    assert all_distinct(keys) is True
    assert all_distinct(np.array([-128, 127, -128], dtype=np.int8)) is False


@pytest.mark.parametrize("keys", [np.array([0.5, 0.25]), np.array([True, False])])
def test_all_distinct_refuses_keys_that_are_not_integers(keys):
    with pytest.raises(TypeError):
        all_distinct(keys)


@pytest.mark.parametrize("values", [
    pa.array(["b", "a", "b", "c"]),
    pa.chunked_array([["b", "a"], ["b", "c"]]),
    # as Parquet gives them: each row group with its own dictionary, in its own order
    pa.chunked_array([pa.array(["b", "a"]).dictionary_encode(), pa.array(["c", "b"]).dictionary_encode()]),
    pa.chunked_array([], pa.dictionary(pa.int32(), pa.string())),
], ids=["plain", "plain-chunks", "dictionary-chunks", "no-chunks"])
def test_as_dictionary_is_one_dictionary_array_of_the_same_values(values):
    encoded = as_dictionary(values)
    assert isinstance(encoded, pa.DictionaryArray)
    assert len(set(encoded.dictionary.to_pylist())) == len(encoded.dictionary)  # one entry a value
    assert encoded.cast(pa.string()).to_pylist() == values.cast(pa.string()).to_pylist()


@pytest.mark.parametrize("values", [
    pa.array(["NITE", "1ABC", "VIRT", "NITE", "AAA"]),
    pa.chunked_array([pa.array(["NITE", "1ABC"]).dictionary_encode(),
                      pa.array(["VIRT", "NITE", "AAA"]).dictionary_encode()]),
    pa.chunked_array([], pa.string()),
    pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 3, 1], pa.int32()), pa.array(["NITE", "AAA", "1ABC", "AAA"])),
], ids=["plain", "dictionary-chunks", "empty", "a-dictionary-repeating-a-value"])
def test_string_ranks_order_rows_as_their_strings_sort(values):
    strings = values.cast(pa.string()).to_pylist()
    encoded, ranks, ordered = string_ranks(values)
    assert encoded.cast(pa.string()).to_pylist() == strings
    assert ordered.to_pylist() == sorted(set(strings))  # digits before letters, as in byte order
    assert [ordered[r - 1].as_py() for r in ranks] == strings
    assert sorted(range(len(strings)), key=lambda i: (ranks[i], i)) == sorted(range(len(strings)),
                                                                               key=lambda i: (strings[i], i))


def test_pair_keys_are_equal_exactly_when_both_values_are():
    first = pa.chunked_array([pa.array(["a", "b"]).dictionary_encode(), pa.array(["b", "a"]).dictionary_encode()])
    second = pa.array(["x", "y", "y", "x"])
    pairs = list(zip(first.to_pylist(), second.to_pylist()))  # (a,x) (b,y) (b,y) (a,x)
    keys = pair_keys(first, second).tolist()
    for i in range(4):
        for j in range(4):
            assert (keys[i] == keys[j]) == (pairs[i] == pairs[j]), (i, j)


@pytest.mark.parametrize("mask, expected", [
    pytest.param(pa.array([], pa.bool_()), 0, id="empty"),
    pytest.param(pa.array([True, False, None, True]), 2, id="nulls-are-not-true"),
    pytest.param(pa.chunked_array([[True], [True, True], []]), 3, id="chunked"),
])
def test_count_true(mask, expected):
    assert count_true(mask) == expected
