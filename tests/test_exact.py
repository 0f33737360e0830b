"""Exact rounded ratios: ties half away from zero, never binary floats."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal, localcontext

import numpy as np
import pyarrow as pa
import pytest

from otc.exact import round_ratio

DEC_18_2 = pa.decimal128(18, 2)
DEC_9_4 = pa.decimal128(9, 4)
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def one(numerator: int, denominator: int, type_: pa.Decimal128Type = DEC_18_2, multiplier: int = 1) -> Decimal:
    result = round_ratio(pa.array([numerator], pa.int64()), pa.array([denominator], pa.int64()),
                         type_, multiplier=multiplier)
    [value] = result.to_pylist()
    return value


def reference(numerator: int, denominator: int, scale: int, multiplier: int = 1) -> Decimal:
    """Decimal's own ROUND_HALF_UP on the exact quotient (enough precision that it is exact)."""
    quantum = Decimal(1).scaleb(-scale)
    if denominator == 0:
        return Decimal(0).quantize(quantum)
    with localcontext() as ctx:
        ctx.prec = 100
        return (Decimal(numerator * multiplier) / Decimal(denominator)).quantize(quantum, rounding=ROUND_HALF_UP)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        pytest.param(1005, 200, "5.03", id="tie-5.025-up"),
        pytest.param(-1005, 200, "-5.03", id="negative-tie-away-from-zero"),
        pytest.param(5, 8, "0.63", id="tie-0.625-up"),
        pytest.param(-5, 8, "-0.63", id="negative-tie-0.625"),
        pytest.param(1, 200, "0.01", id="tie-half-cent"),
        pytest.param(-1, 200, "-0.01", id="negative-tie-half-cent"),
        pytest.param(1, 201, "0.00", id="below-half-cent"),
        pytest.param(-1, 201, "0.00", id="negative-below-half-cent"),
        pytest.param(1, 3, "0.33", id="one-third"),
        pytest.param(-1, 3, "-0.33", id="negative-one-third"),
        pytest.param(2, 3, "0.67", id="two-thirds"),
        pytest.param(-2, 3, "-0.67", id="negative-two-thirds"),
        pytest.param(1129000, 8000, "141.13", id="tie-141.125"),
        pytest.param(0, 7, "0.00", id="zero-numerator"),
        pytest.param(7, 0, "0.00", id="zero-denominator"),
        pytest.param(-7, 0, "0.00", id="negative-over-zero"),
        pytest.param(0, 0, "0.00", id="zero-over-zero"),
        pytest.param(INT64_MAX, INT64_MAX, "1.00", id="int64-max-over-itself"),
        pytest.param(INT64_MIN, INT64_MAX, "-1.00", id="int64-min-over-int64-max"),
        pytest.param(INT64_MIN, 2**62, "-2.00", id="int64-min-over-2-62"),
        pytest.param(9999999999999999, 1, "9999999999999999.00", id="largest-that-fits-18-2"),
        pytest.param(-9999999999999999, 1, "-9999999999999999.00", id="smallest-that-fits-18-2"),
        pytest.param(1999999999999999998, 200, "9999999999999999.99", id="just-below-overflow-18-2"),
        pytest.param(19999999999999999, 2, "9999999999999999.50", id="half-kept-near-limit"),
    ],
)
def test_ratio_rounds_half_away_from_zero_at_2dp(numerator, denominator, expected):
    value = one(numerator, denominator)

    assert value == Decimal(expected)
    assert str(value) == expected


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        pytest.param(1, 3, "33.3333", id="one-third-percent"),
        pytest.param(2, 3, "66.6667", id="two-thirds-percent"),
        pytest.param(1, 8, "12.5000", id="exact"),
        pytest.param(2700108, 8640000, "31.2513", id="tie-31.25125"),
        pytest.param(1, 2000000, "0.0001", id="tie-0.00005"),
        pytest.param(-1, 2000000, "-0.0001", id="negative-tie-0.00005"),
        pytest.param(1, 2000001, "0.0000", id="below-half-unit"),
        pytest.param(5, 0, "0.0000", id="zero-total"),
        pytest.param(99999, 100, "99999.0000", id="near-largest-that-fits-9-4"),
    ],
)
def test_multiplier_applies_before_rounding(numerator, denominator, expected):
    value = one(numerator, denominator, DEC_9_4, multiplier=100)

    assert value == Decimal(expected)
    assert str(value) == expected


@pytest.mark.parametrize(
    "type_",
    [
        pytest.param(DEC_18_2, id="18-2"),
        pytest.param(DEC_9_4, id="9-4"),
        pytest.param(pa.decimal128(10, 0), id="10-0"),
        pytest.param(pa.decimal128(38, 6), id="38-6"),
    ],
)
@pytest.mark.parametrize("length", [0, 3])
def test_output_type_is_the_requested_decimal(type_, length):
    numerator = pa.array([7, -7, 0][:length], pa.int64())
    denominator = pa.array([2, 2, 0][:length], pa.int64())

    result = round_ratio(numerator, denominator, type_)

    assert result.type == type_
    assert len(result) == length


def test_scale_zero_rounds_to_whole_numbers():
    result = round_ratio(pa.array([7, -7, 5, -5], pa.int64()), pa.array([2, 2, 3, 3], pa.int64()),
                         pa.decimal128(10, 0))

    assert result.to_pylist() == [Decimal("4"), Decimal("-4"), Decimal("2"), Decimal("-2")]


def test_numpy_and_arrow_inputs_give_the_same_result():
    numerator, denominator = [1005, -5, 1, 9], [200, 8, 3, 0]

    from_numpy = round_ratio(np.array(numerator, np.int64), np.array(denominator, np.int64), DEC_18_2)
    from_arrow = round_ratio(pa.array(numerator, pa.int64()), pa.array(denominator, pa.int64()), DEC_18_2)

    assert from_numpy.equals(from_arrow)
    assert from_arrow.to_pylist() == [Decimal("5.03"), Decimal("-0.63"), Decimal("0.33"), Decimal("0.00")]


@pytest.mark.parametrize(
    ("numerator", "denominator", "type_", "multiplier"),
    [
        pytest.param(10**16, 1, DEC_18_2, 1, id="1e16-at-18-2"),
        pytest.param(-(10**16), 1, DEC_18_2, 1, id="minus-1e16-at-18-2"),
        pytest.param(INT64_MAX, 1, DEC_18_2, 1, id="int64-max-at-18-2"),
        pytest.param(INT64_MIN, 1, DEC_18_2, 1, id="int64-min-at-18-2"),
        pytest.param(1999999999999999999, 200, DEC_18_2, 1, id="tie-rounds-up-to-1e16"),
        pytest.param(100000, 100, DEC_9_4, 100, id="100000-at-9-4"),
        pytest.param(INT64_MAX, 1, DEC_9_4, 100, id="int64-max-percent-at-9-4"),
    ],
)
def test_value_that_does_not_fit_raises_overflow_error(numerator, denominator, type_, multiplier):
    with pytest.raises(OverflowError):
        one(numerator, denominator, type_, multiplier)


def test_one_value_that_does_not_fit_fails_the_whole_array():
    with pytest.raises(OverflowError):
        round_ratio(pa.array([1, 10**17, 3], pa.int64()), pa.array([1, 1, 1], pa.int64()), DEC_18_2)


def test_wide_decimal_type_holds_ratios_beyond_the_int64_range():
    # 9223372036854775807.00 fits decimal128(38, 2) (precision 38), so it must not overflow.
    assert one(INT64_MAX, 1, pa.decimal128(38, 2)) == Decimal("9223372036854775807.00")


def _random_pairs(seed: int, count: int, scale: int, multiplier: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    edges = [0, 1, -1, 2, -2, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 2**62, -(2**62),
             2**61, 2**61 + 1, 10**16, -(10**16), 10**18, -(10**18)]
    pairs = []
    for _ in range(count):
        kind = rng.randrange(5)
        if kind == 0:
            n, d = rng.randint(-1000, 1000), rng.randint(0, 1000)
        elif kind == 1:
            n, d = rng.randint(-(10**12), 10**12), rng.randint(0, 10**6)
        elif kind == 2:
            n, d = rng.randint(INT64_MIN, INT64_MAX), rng.randint(0, INT64_MAX)
        elif kind == 3:
            n = rng.choice(edges) + rng.randint(-3, 3) if rng.random() < 0.5 else rng.choice(edges)
            n = max(INT64_MIN, min(INT64_MAX, n))
            d = rng.choice([1, 2, 3, 7, 200, 2**61, 2**61 + 1, 2**62, INT64_MAX, INT64_MAX - 1])
        else:  # exact ties: n * multiplier / d is an odd number of half units of the last place
            factor = rng.choice([1, 3, 8, 125])
            d = 2 * 10**scale * multiplier * factor
            n = (rng.randint(-(10**8), 10**8) * 2 + 1) * factor
        pairs.append((n, d))
    return pairs


def _is_tie(numerator: int, denominator: int, scale: int, multiplier: int) -> bool:
    """True when the exact value sits halfway between two values of the last place."""
    doubled = 2 * numerator * multiplier * 10**scale
    return denominator != 0 and doubled % denominator == 0 and (doubled // denominator) % 2 == 1


@pytest.mark.parametrize(
    ("type_", "multiplier"),
    [
        pytest.param(DEC_18_2, 1, id="avg-trade-size-18-2"),
        pytest.param(DEC_9_4, 100, id="share-pct-9-4-times-100"),
        pytest.param(pa.decimal128(18, 4), 100, id="18-4-times-100"),
    ],
)
def test_matches_decimal_round_half_up_reference(type_, multiplier):
    pairs = _random_pairs(20251226 + type_.scale + multiplier, 400, type_.scale, multiplier)
    limit = Decimal(10) ** (type_.precision - type_.scale)
    expected = {pair: reference(*pair, type_.scale, multiplier) for pair in pairs}
    fitting = [p for p in pairs if abs(expected[p]) < limit]
    overflowing = [p for p in pairs if abs(expected[p]) >= limit]
    assert len(fitting) >= 200 and len(overflowing) >= 10  # the sample exercises both outcomes
    assert sum(1 for n, d in fitting if _is_tie(n, d, type_.scale, multiplier)) >= 30

    result = round_ratio(
        pa.array([n for n, _ in fitting], pa.int64()), pa.array([d for _, d in fitting], pa.int64()),
        type_, multiplier=multiplier,
    )

    assert result.type == type_
    mismatches = [(p, got, expected[p]) for p, got in zip(fitting, result.to_pylist()) if got != expected[p]]
    assert mismatches == []
    for n, d in overflowing[:20]:
        with pytest.raises(OverflowError):
            one(n, d, type_, multiplier)
