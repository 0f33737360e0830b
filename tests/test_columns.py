"""Small column helpers."""

from __future__ import annotations

import numpy as np
import pytest

from otc.columns import all_distinct


@pytest.mark.parametrize(
    ("keys", "distinct"),
    [
        pytest.param([], True, id="empty"),
        pytest.param([5], True, id="one"),
        pytest.param([3, 1, 2], True, id="unsorted-distinct"),
        pytest.param([3, 1, 3], False, id="repeat-apart"),
        pytest.param([0, 0], False, id="repeat-adjacent"),
        pytest.param([2**64 - 1, 0, 2**63], True, id="uint64-extremes"),
    ],
)
def test_all_distinct(keys, distinct):
    assert all_distinct(np.array(keys, dtype=np.uint64)) is distinct


def test_all_distinct_leaves_its_input_in_place():
    keys = np.array([3, 1, 2], dtype=np.int64)
    all_distinct(keys)
    assert keys.tolist() == [3, 1, 2]
