"""Rolling 6 weeks: averages, trend rules, rounding ties and the two rolling checks (docs/tables.md).

Each edge case is a named param; expected tables are written inline; the last test checks the
vectorised `rolling_6w` against a slow, obvious loop over exact fractions.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pyarrow as pa
import pytest

from otc.context import StageContext
from otc.rolling import rolling_6w
from otc.schemas import Table, plain
from otc.tiers import Tier

NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)
W1, W2, W3, W4, W5, W6 = WINDOW = [
    dt.date(2025, 11, 21), dt.date(2025, 11, 28), dt.date(2025, 12, 5),
    dt.date(2025, 12, 12), dt.date(2025, 12, 19), dt.date(2025, 12, 26),
]
BEFORE_WINDOW = dt.date(2025, 11, 14)
AFTER_WINDOW = dt.date(2026, 1, 2)
CTX = StageContext(Tier.NMS_TIER_1, W6, "exec_test", "batch_test", NOW)
_ = None  # a week the symbol did not trade

RESULT_COLUMNS = ["symbol", "avg_6w_volume", "avg_6w_trades", "trend_direction", "trend_pct",
                  "weeks_in_window", "is_complete_window"]


def summaries(rows: list[tuple[dt.date, str, int, int]]) -> pa.Table:
    """otc_symbol_summary rows (week, symbol, volume, trades), in the given order."""
    return pa.table({
        "week_ending": pa.array([r[0] for r in rows], pa.date32()),
        "symbol": pa.array([r[1] for r in rows], pa.string()),
        "total_volume": pa.array([r[2] for r in rows], pa.int64()),
        "total_trades": pa.array([r[3] for r in rows], pa.int64()),
    })


def series(symbol: str, volumes: list, trades: list | None = None) -> list[tuple[dt.date, str, int, int]]:
    """One symbol's rows, one entry per window week (None = no summary that week).

    Rows come newest first, so nothing may rely on the input being in date order.
    """
    assert len(volumes) == len(WINDOW)
    trades = trades or [None if v is None else 1 for v in volumes]
    rows = [(w, symbol, v, t) for w, v, t in zip(WINDOW, volumes, trades) if v is not None]
    return rows[::-1]


def compute(rows: list[tuple[dt.date, str, int, int]]):
    return rolling_6w(summaries(rows), WINDOW, CTX)


def result_rows(rows) -> list[dict]:
    return compute(rows).rolling.select(RESULT_COLUMNS).to_pylist()


def checks_by_name(rows) -> dict[str, dict]:
    return {r["check_name"]: r for r in compute(rows).checks.to_pylist()}


# --- trend ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volumes", "direction", "pct"),
    [
        pytest.param([_, _, _, _, _, 1000], "FLAT", "0.00", id="one-week-is-flat-zero"),
        pytest.param([1000, _, _, _, _, _], "FLAT", "0.00", id="one-old-week-is-flat-zero"),
        pytest.param([1000, _, _, 1100, _, _], "UP", "10.00", id="two-weeks-last-vs-first"),
        pytest.param([_, 2000, _, _, _, 1500], "DOWN", "-25.00", id="two-weeks-falling"),
        pytest.param([3, _, _, _, _, 4], "UP", "33.33", id="two-weeks-small-numbers"),
        pytest.param([6, 7, _, _, _, _], "UP", "16.67", id="two-weeks-rounds-up-past-half"),
        pytest.param([100, 200, 400, _, _, _], "UP", "100.00",
                     id="three-weeks-mean-last-two-vs-mean-first-two-overlapping-middle"),
        pytest.param([100, _, 200, _, _, 400], "UP", "100.00", id="three-weeks-with-gaps"),
        pytest.param([1000, 3000, _, 1000, _, 1000], "DOWN", "-50.00", id="four-weeks"),
        pytest.param([1000, 1000, 1, 99999, 1100, 1200], "UP", "15.00",
                     id="six-weeks-middle-weeks-do-not-count"),
        pytest.param([0, _, _, _, _, 5], "UP", "100.00", id="first-zero-last-positive-is-up-100"),
        pytest.param([0, 0, 7, _, _, _], "UP", "100.00", id="first-two-zero-last-mean-positive-is-up-100"),
        pytest.param([0, _, 0, _, _, _], "FLAT", "0.00", id="first-zero-last-zero-is-flat-zero"),
        pytest.param([0, 0, 500, 500, 0, 0], "FLAT", "0.00", id="zero-at-both-ends-is-flat-zero"),
        pytest.param([1000, _, _, _, _, 0], "DOWN", "-100.00", id="last-zero-is-down-100"),
        pytest.param([1000, 1050, _, _, _, _], "FLAT", "5.00", id="exactly-plus-5.00-is-flat"),
        pytest.param([10000, 10501, _, _, _, _], "UP", "5.01", id="plus-5.01-is-up"),
        pytest.param([1000, 950, _, _, _, _], "FLAT", "-5.00", id="exactly-minus-5.00-is-flat"),
        pytest.param([10000, 9499, _, _, _, _], "DOWN", "-5.01", id="minus-5.01-is-down"),
        pytest.param([100000, 105004, _, _, _, _], "FLAT", "5.00",
                     id="plus-5.004-rounds-to-5.00-and-is-flat"),
        pytest.param([100000, 105005, _, _, _, _], "UP", "5.01",
                     id="plus-5.005-tie-rounds-to-5.01-and-is-up"),
        pytest.param([100000, 94995, _, _, _, _], "DOWN", "-5.01",
                     id="minus-5.005-tie-rounds-away-from-zero-and-is-down"),
        pytest.param([8000, 8570, _, _, _, _], "UP", "7.13", id="plus-7.125-tie-rounds-up"),
        pytest.param([8000, 7430, _, _, _, _], "DOWN", "-7.13", id="minus-7.125-tie-rounds-away-from-zero"),
        pytest.param([4000, 4000, 3430, _, _, _], "DOWN", "-7.13",
                     id="minus-7.125-tie-from-means-of-three-weeks"),
        pytest.param([1230000, 1170000, 1149750, 1140000, 1100000, 1129000], "DOWN", "-7.13",
                     id="msft-fixture-six-weeks-tie"),
        pytest.param([10**15, _, _, _, _, 3 * 10**15], "UP", "200.00", id="huge-volumes-stay-exact"),
        pytest.param([8 * 10**15, _, _, _, _, 743 * 10**13], "DOWN", "-7.13",
                     id="huge-volumes-tie-rounds-away-from-zero"),
    ],
)
def test_trend_direction_and_pct(volumes, direction, pct):
    (row,) = result_rows(series("AAA", volumes))
    assert (row["trend_direction"], row["trend_pct"]) == (direction, Decimal(pct))


# --- averages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volumes", "trades", "avg_volume", "avg_trades"),
    [
        pytest.param([3, 2, 2, 2, 2, 2], [1, 1, 1, 1, 1, 1], 2, 1, id="sum-13-over-6-weeks-floors-to-2"),
        pytest.param([5, 5, 5, 5, 5, 4], [2, 2, 2, 2, 2, 1], 4, 1, id="4.83-floors-to-4"),
        pytest.param([3, _, _, _, _, 4], [7, _, _, _, _, 8], 3, 7, id="half-floors-down-not-up"),
        pytest.param([6, _, 6, _, 6, _], [9, _, 9, _, 9, _], 6, 9, id="exact-division"),
        pytest.param([_, _, 7, _, _, _], [_, _, 2, _, _, _], 7, 2,
                     id="single-week-is-its-own-average"),
        pytest.param([1000, 1000, 1000, 1000, 1000, 1000], [1, 1, 1, 1, 1, 0], 1000, 0,
                     id="trades-sum-5-over-6-weeks-floors-to-0"),
        pytest.param([2132300, 2132300, 2132300, 2132300, 2132300, 2132303],
                     [8398, 8398, 8398, 8398, 8398, 8400], 2132300, 8398, id="floor-of-x-point-5"),
    ],
)
def test_averages_are_floor_of_sum_over_weeks_present(volumes, trades, avg_volume, avg_trades):
    (row,) = result_rows(series("AAA", volumes, trades))
    assert (row["avg_6w_volume"], row["avg_6w_trades"]) == (avg_volume, avg_trades)


# --- window --------------------------------------------------------------------------------


def test_symbols_missing_weeks_have_incomplete_windows():
    rows = (
        series("DDD", [10, 10, 10, 10, 10, _], [1, 1, 1, 1, 1, _])
        + series("AAPL", [100, 110, 120, 130, 140, 149], [10, 11, 12, 13, 14, 15])
        + series("CCC", [_, _, _, _, _, 42], [_, _, _, _, _, 7])
        + series("BBB", [_, 500, _, 400, _, 300], [_, 5, _, 4, _, 3])
    )
    common = {"week_ending": W6, "tier": "NMS_TIER_1", "execution_id": "exec_test", "batch_id": "batch_test",
              "rolling_version": "v1.0.0", "calculated_at": NOW}
    expected = [
        # AAPL: 749 / 6 = 124.83 -> 124; 75 / 6 = 12.5 -> 12; (289 - 210) / 210 = 37.619 % -> 37.62
        {"symbol": "AAPL", "avg_6w_volume": 124, "avg_6w_trades": 12, "trend_direction": "UP",
         "trend_pct": Decimal("37.62"), "weeks_in_window": 6, "is_complete_window": True},
        # BBB: 3 weeks; (400 + 300) vs (500 + 400): -22.222 % -> -22.22
        {"symbol": "BBB", "avg_6w_volume": 400, "avg_6w_trades": 4, "trend_direction": "DOWN",
         "trend_pct": Decimal("-22.22"), "weeks_in_window": 3, "is_complete_window": False},
        {"symbol": "CCC", "avg_6w_volume": 42, "avg_6w_trades": 7, "trend_direction": "FLAT",
         "trend_pct": Decimal("0.00"), "weeks_in_window": 1, "is_complete_window": False},
        {"symbol": "DDD", "avg_6w_volume": 10, "avg_6w_trades": 1, "trend_direction": "FLAT",
         "trend_pct": Decimal("0.00"), "weeks_in_window": 5, "is_complete_window": False},
    ]
    result = compute(rows)
    assert plain(result.rolling.schema) == Table.ROLLING_6W.schema
    assert result.rolling.to_pylist() == [{**r, **common} for r in expected]


def test_weeks_outside_the_window_are_ignored():
    rows = series("AAA", [_, _, _, _, 100, 200], [_, _, _, _, 1, 3]) + [
        (BEFORE_WINDOW, "AAA", 10**9, 10**6),
        (AFTER_WINDOW, "AAA", 10**9, 10**6),
        (BEFORE_WINDOW, "ZZZ", 500, 5),  # a symbol seen only outside the window has no row
        (AFTER_WINDOW, "ZZZ", 500, 5),
    ]
    assert result_rows(rows) == [
        {"symbol": "AAA", "avg_6w_volume": 150, "avg_6w_trades": 2, "trend_direction": "UP",
         "trend_pct": Decimal("100.00"), "weeks_in_window": 2, "is_complete_window": False},
    ]


def test_no_summaries_in_window_gives_empty_table():
    result = rolling_6w(summaries([(BEFORE_WINDOW, "AAA", 1, 1)]), WINDOW, CTX)
    assert result.rolling.num_rows == 0
    assert plain(result.rolling.schema) == Table.ROLLING_6W.schema


# --- checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("complete", "incomplete", "status", "value"),
    [
        pytest.param(5, 0, "PASS", "5/5 (100.0%)", id="all-complete"),
        pytest.param(1, 1, "PASS", "1/2 (50.0%)", id="exactly-half-passes"),
        pytest.param(2, 1, "PASS", "2/3 (66.7%)", id="two-thirds"),
        pytest.param(49, 51, "WARN", "49/100 (49.0%)", id="just-below-half-warns"),
        pytest.param(1, 2, "WARN", "1/3 (33.3%)", id="one-third-warns"),
        pytest.param(1, 15, "WARN", "1/16 (6.3%)", id="6.25-tie-rounds-half-up"),
        pytest.param(0, 3, "WARN", "0/3 (0.0%)", id="none-complete-warns"),
    ],
)
def test_rolling_window_complete_check(complete, incomplete, status, value):
    rows = [row for i in range(complete) for row in series(f"C{i:03d}", [100] * 6)]
    rows += [row for i in range(incomplete) for row in series(f"I{i:03d}", [_, _, _, _, _, 100])]
    check = checks_by_name(rows)["rolling_window_complete"]
    assert (check["check_category"], check["status"], check["check_value"]) == ("COMPLETENESS", status, value)


@pytest.mark.parametrize(
    ("volumes", "trades", "status", "value"),
    [
        pytest.param([5, 5, 5, 5, 5, 5], [1, 1, 1, 1, 1, 1], "PASS", "0", id="all-averages-positive"),
        pytest.param([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], "WARN", "1", id="zero-volume-every-week"),
        pytest.param([1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], "WARN", "1", id="volume-average-floors-to-zero"),
        pytest.param([9, 9, 9, 9, 9, 9], [0, 0, 0, 0, 0, 5], "WARN", "1", id="trades-average-floors-to-zero"),
    ],
)
def test_no_zero_rolling_volume_check(volumes, trades, status, value):
    rows = series("AAA", volumes, trades) + series("GOOD", [100] * 6, [10] * 6)
    check = checks_by_name(rows)["no_zero_rolling_volume"]
    assert (check["check_category"], check["status"], check["check_value"]) == ("INTEGRITY", status, value)


def test_check_rows_name_the_rolling_pipeline_and_week():
    checks = compute(series("AAA", [100] * 6)).checks
    assert plain(checks.schema) == Table.QUALITY_CHECKS.schema
    assert checks.select(["week_ending", "tier", "pipeline_name", "check_name", "status"]).to_pylist() == [
        {"week_ending": W6, "tier": "NMS_TIER_1", "pipeline_name": "otc.compute_rolling_6w",
         "check_name": "rolling_window_complete", "status": "PASS"},
        {"week_ending": W6, "tier": "NMS_TIER_1", "pipeline_name": "otc.compute_rolling_6w",
         "check_name": "no_zero_rolling_volume", "status": "PASS"},
    ]
    assert all(r["message"] and r["expected_value"] for r in checks.to_pylist())


# --- reference -----------------------------------------------------------------------------


def _round_half_up(value: Fraction, places: int) -> Decimal:
    """Round an exact fraction half away from zero to `places` decimals."""
    scaled = abs(value) * 10**places
    units = math.floor(scaled + Fraction(1, 2))
    return Decimal(units if value >= 0 else -units).scaleb(-places)


def reference_rolling(rows, window):
    """The rolling rules, one symbol at a time, with exact fractions."""
    by_symbol = defaultdict(list)
    for week, symbol, volume, trades in rows:
        if week in window:
            by_symbol[symbol].append((week, volume, trades))
    out = []
    for symbol in sorted(by_symbol):
        weeks = sorted(by_symbol[symbol])
        volumes = [v for _, v, _ in weeks]
        trades = [t for _, _, t in weeks]
        n = len(weeks)
        if n < 2:
            pct = Decimal("0.00")
        else:
            if n == 2:
                first, last = Fraction(volumes[0]), Fraction(volumes[1])
            else:
                first = Fraction(volumes[0] + volumes[1], 2)
                last = Fraction(volumes[-2] + volumes[-1], 2)
            if first == 0:
                pct = Decimal("100.00") if last > 0 else Decimal("0.00")
            else:
                pct = _round_half_up((last - first) / first * 100, 2)
        direction = "UP" if pct > 5 else "DOWN" if pct < -5 else "FLAT"
        out.append({
            "week_ending": window[-1], "tier": "NMS_TIER_1", "symbol": symbol,
            "avg_6w_volume": sum(volumes) // n, "avg_6w_trades": sum(trades) // n,
            "trend_direction": direction, "trend_pct": pct,
            "weeks_in_window": n, "is_complete_window": n == 6,
            "rolling_version": "v1.0.0", "calculated_at": NOW,
            "execution_id": "exec_test", "batch_id": "batch_test",
        })
    return out


def _random_value(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.10:
        return 0
    if pick < 0.30:
        return rng.randint(0, 20)  # small numbers: many floors to zero and first-week zeros
    return rng.randint(1, 10**9)


def random_rows(seed: int) -> list[tuple[dt.date, str, int, int]]:
    """~200 symbols over the window and a week either side, 30 % of weeks missing, in random order.

    Two symbols in five trade around a base whose doubled or single value is 2**5 * 5**k, so that
    an odd change makes (last - first) / first * 100 end in exactly 5 at the third decimal: a tie.
    """
    rng = random.Random(seed)
    symbols = [f"S{i:03d}" for i in range(196)] + ["A", "BRK.B", "ZZ-W", "Q1"]
    rows = []
    for symbol in symbols:
        base = rng.choice([16, 32, 80, 160, 400, 800, 2000, 4000]) if rng.random() < 0.4 else None
        for week in [BEFORE_WINDOW, *WINDOW, AFTER_WINDOW]:
            if rng.random() < 0.3:
                continue
            if base is None:
                volume = _random_value(rng)
            else:
                volume = base + (rng.choice([-3, -1, 1, 5]) if rng.random() < 0.4 else 0)
            rows.append((week, symbol, volume, _random_value(rng) // 1000))
    rng.shuffle(rows)
    return rows


def _exact_ties(expected: list[dict], rows) -> int:
    """How many symbols' exact trend_pct has a 5 in the third decimal (the rounding tie)."""
    by_symbol = defaultdict(list)
    for week, symbol, volume, _trades in rows:
        if week in WINDOW:
            by_symbol[symbol].append((week, volume))
    ties = 0
    for volumes in ([v for _, v in sorted(pairs)] for pairs in by_symbol.values()):
        if len(volumes) < 2:
            continue
        first, last = (volumes[0], volumes[1]) if len(volumes) == 2 else (
            volumes[0] + volumes[1], volumes[-2] + volumes[-1])
        ties += first != 0 and (Fraction(last - first, first) * 10**4).denominator == 2
    return ties


def test_rolling_matches_slow_reference_on_random_table():
    rows = random_rows(seed=20251226)
    expected = reference_rolling(rows, WINDOW)
    # the data must reach the interesting cases, or this test proves little
    assert len(expected) > 150
    assert _exact_ties(expected, rows) >= 5
    assert {r["weeks_in_window"] for r in expected} == {1, 2, 3, 4, 5, 6}
    assert {r["trend_direction"] for r in expected} == {"UP", "DOWN", "FLAT"}
    assert any(r["avg_6w_trades"] == 0 for r in expected)

    # as the file layer passes them: one table per week file, concatenated (several chunks)
    by_week = pa.concat_tables(summaries([r for r in rows if r[0] == w]) for w in sorted({r[0] for r in rows}))
    result = rolling_6w(by_week, WINDOW, CTX)
    assert result.rolling.to_pylist() == expected

    complete = sum(r["is_complete_window"] for r in expected)
    zero = sum(1 for r in expected if r["avg_6w_volume"] == 0 or r["avg_6w_trades"] == 0)
    share = _round_half_up(Fraction(100 * complete, len(expected)), 1)
    checks = {r["check_name"]: (r["status"], r["check_value"]) for r in result.checks.to_pylist()}
    assert checks == {
        "rolling_window_complete": ("PASS" if 2 * complete >= len(expected) else "WARN",
                                    f"{complete}/{len(expected)} ({share}%)"),
        "no_zero_rolling_volume": ("WARN" if zero else "PASS", str(zero)),
    }


def test_weekly_totals_too_large_to_add_exactly_are_refused_not_wrapped():
    from otc.exact import ValueOutOfRange
    from otc.errors import OtcError

    huge = 2 * 10**18  # six of them overflow int64
    table = pa.table({
        "week_ending": pa.array(WINDOW, pa.date32()),
        "symbol": ["BIG"] * 6,
        "total_volume": pa.array([huge] * 6, pa.int64()),
        "total_trades": pa.array([1000] * 6, pa.int64()),
    })
    with pytest.raises(ValueOutOfRange, match="too large to add up over 6 weeks") as raised:
        rolling_6w(table, WINDOW, CTX)
    assert isinstance(raised.value, OtcError)  # a failed stage with one line, not a traceback
