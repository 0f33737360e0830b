"""Research snapshot: one row per symbol of the last week, with top venue, rolling fields and
the week's worst quality status (docs/tables.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from otc.aggregate import aggregate
from otc.context import StageContext
from otc.quality import Check, CheckCategory, CheckStatus, checks_table
from otc.rolling import rolling_6w
from otc.schemas import Table, plain
from otc.snapshot import research_snapshot, top_venues
from otc.tiers import Tier

from tables import venue_volume

NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)
PREVIOUS, WEEK = dt.date(2025, 12, 19), dt.date(2025, 12, 26)
WINDOW = [dt.date(2025, 11, 21), dt.date(2025, 11, 28), dt.date(2025, 12, 5),
          dt.date(2025, 12, 12), PREVIOUS, WEEK]
CTX = StageContext(Tier.NMS_TIER_1, WEEK, "exec_test", "batch_test", NOW)
COMMON = {"week_ending": WEEK, "tier": "NMS_TIER_1", "execution_id": "exec_test", "batch_id": "batch_test",
          "snapshot_version": "v1.0.0", "created_at": NOW}
NO_ROLLING = {"rolling_avg_6w_volume": None, "rolling_avg_6w_trades": None, "rolling_trend_direction": None,
              "rolling_weeks_available": None, "rolling_is_complete": None, "has_rolling_data": False}


def checks(*statuses: str) -> pa.Table:
    return checks_table(CTX, "otc.test", [
        Check(f"check_{i}", CheckCategory.INTEGRITY, CheckStatus(s), "0", "0", "0", "test check")
        for i, s in enumerate(statuses)
    ])


def snapshot_without_rolling(rows, quality: pa.Table | None = None) -> pa.Table:
    volume = venue_volume(rows)
    week = aggregate(volume, CTX)
    return research_snapshot(week.symbol_summary, volume, None,
                             week.checks if quality is None else quality, CTX)


# --- top venue -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "top_mpid", "top_share"),
    [
        pytest.param([("AAA", "VIRT", 100, 1)], "VIRT", "100.0000", id="single-venue-has-100-pct"),
        pytest.param([("AAA", "AAAA", 100, 9), ("AAA", "ZZZZ", 300, 1)], "ZZZZ", "75.0000",
                     id="most-shares-wins-not-most-trades"),
        pytest.param([("AAA", "VIRT", 600000, 1), ("AAA", "NITE", 600000, 1), ("AAA", "UBSS", 380120, 1)],
                     "NITE", "37.9718", id="tie-goes-to-smallest-mpid"),
        pytest.param([("AAA", "UBSS", 380120, 1), ("AAA", "NITE", 600000, 1), ("AAA", "VIRT", 600000, 1)],
                     "NITE", "37.9718", id="tie-goes-to-smallest-mpid-whatever-the-row-order"),
        pytest.param([("AAA", "NITE", 5, 1), ("AAA", "1ABC", 5, 1)], "1ABC", "50.0000",
                     id="tie-digits-sort-before-letters"),
        pytest.param([("AAA", "CDEL", 1559961, 1), ("AAA", "VIRT", 1560039, 1)], "VIRT", "50.0013",
                     id="50.00125-tie-rounds-up"),
        pytest.param([("AAA", "CDEL", 1, 1), ("AAA", "VIRT", 2, 1)], "VIRT", "66.6667", id="two-thirds"),
        pytest.param([("AAA", "CDEL", 1, 1), ("AAA", "VIRT", 1, 1), ("AAA", "NITE", 1, 1)], "CDEL", "33.3333",
                     id="three-way-tie-one-third"),
        pytest.param([("AAA", "VIRT", 0, 1), ("AAA", "NITE", 0, 1)], "NITE", "0.0000",
                     id="zero-volume-symbol-has-zero-share"),
        pytest.param([("AAA", "NITE", 10, 1), ("BBB", "VIRT", 10**6, 1)], "NITE", "100.0000",
                     id="other-symbols-venues-do-not-count"),
    ],
)
def test_top_venue_has_most_shares_ties_to_smallest_mpid(rows, top_mpid, top_share):
    snapshot = snapshot_without_rolling(rows)
    (row,) = [r for r in snapshot.to_pylist() if r["symbol"] == "AAA"]
    assert (row["top_venue_mpid"], row["top_venue_share_pct"]) == (top_mpid, Decimal(top_share))


def test_top_venues_read_as_dictionaries_match_plain_strings():
    # as the snapshot step reads them: a dictionary per row group, MPIDs in no sorted order
    def chunk(symbols, mpids, shares):
        return pa.table({"symbol": pa.array(symbols).dictionary_encode(),
                         "mpid": pa.array(mpids).dictionary_encode(), "total_shares": pa.array(shares, pa.int64())})
    parts = [chunk(["BBB", "AAA", "AAA"], ["VIRT", "VIRT", "NITE"], [5, 7, 7]),
             chunk(["AAA", "BBB", "CCC"], ["UBSS", "CDEL", "ZZZZ"], [3, 5, 1])]
    encoded = pa.concat_tables(parts)
    plain_strings = pa.concat_tables(t.cast(pa.schema([("symbol", pa.string()), ("mpid", pa.string()),
                                                         ("total_shares", pa.int64())])) for t in parts)
    expected = {"AAA": ("NITE", 7), "BBB": ("CDEL", 5), "CCC": ("ZZZZ", 1)}
    for table in (encoded, plain_strings):
        rows = top_venues(table).to_pylist()
        assert {r["symbol"]: (r["top_venue_mpid"], r["top_venue_shares"]) for r in rows} == expected


# --- whole rows ----------------------------------------------------------------------------


WEEK_ROWS = [
    ("CCC", "UBSS", 80, 0),
    ("AAA", "VIRT", 600, 4),
    ("BBB", "VIRT", 450, 5),
    ("AAA", "NITE", 600, 6),
    ("AAA", "CDEL", 100, 1),
]
PREVIOUS_ROWS = [("AAA", "NITE", 1000, 10), ("BBB", "VIRT", 500, 5)]
WEEK_TOTALS = [
    # AAA: 1300 / 11 = 118.18; NITE and VIRT tie at 600 -> NITE; 600 / 1300 = 46.1538 %
    {"symbol": "AAA", "total_volume": 1300, "total_trades": 11, "venue_count": 3,
     "avg_trade_size": Decimal("118.18"), "top_venue_mpid": "NITE", "top_venue_share_pct": Decimal("46.1538")},
    {"symbol": "BBB", "total_volume": 450, "total_trades": 5, "venue_count": 1,
     "avg_trade_size": Decimal("90.00"), "top_venue_mpid": "VIRT", "top_venue_share_pct": Decimal("100.0000")},
    {"symbol": "CCC", "total_volume": 80, "total_trades": 0, "venue_count": 1,
     "avg_trade_size": Decimal("0.00"), "top_venue_mpid": "UBSS", "top_venue_share_pct": Decimal("100.0000")},
]


def test_snapshot_rows_with_rolling():
    previous = aggregate(venue_volume(PREVIOUS_ROWS, PREVIOUS),
                         StageContext(Tier.NMS_TIER_1, PREVIOUS, "exec_prev", "batch_test", NOW))
    volume = venue_volume(WEEK_ROWS)
    week = aggregate(volume, CTX)
    rolling = rolling_6w(pa.concat_tables([previous.symbol_summary, week.symbol_summary]), WINDOW, CTX)
    snapshot = research_snapshot(week.symbol_summary, volume, rolling.rolling,
                                 pa.concat_tables([week.checks, rolling.checks]), CTX)
    rolling_fields = [
        # (1000 + 1300) / 2 = 1150; (10 + 11) / 2 = 10.5 -> 10; 1000 -> 1300 is +30 %: UP
        {"rolling_avg_6w_volume": 1150, "rolling_avg_6w_trades": 10, "rolling_trend_direction": "UP",
         "rolling_weeks_available": 2, "rolling_is_complete": False, "has_rolling_data": True},
        # 500 -> 450 is -10 %: DOWN
        {"rolling_avg_6w_volume": 475, "rolling_avg_6w_trades": 5, "rolling_trend_direction": "DOWN",
         "rolling_weeks_available": 2, "rolling_is_complete": False, "has_rolling_data": True},
        {"rolling_avg_6w_volume": 80, "rolling_avg_6w_trades": 0, "rolling_trend_direction": "FLAT",
         "rolling_weeks_available": 1, "rolling_is_complete": False, "has_rolling_data": True},
    ]
    # no symbol is complete and CCC's trade average is 0: the rolling checks WARN
    expected = [{**COMMON, **totals, **fields, "quality_status": "WARN"}
                for totals, fields in zip(WEEK_TOTALS, rolling_fields)]
    assert plain(snapshot.schema) == Table.RESEARCH_SNAPSHOT.schema
    assert snapshot.to_pylist() == expected


def test_without_rolling_the_rolling_fields_are_null():
    snapshot = snapshot_without_rolling(WEEK_ROWS)
    assert plain(snapshot.schema) == Table.RESEARCH_SNAPSHOT.schema
    assert snapshot.to_pylist() == [{**COMMON, **totals, **NO_ROLLING, "quality_status": "PASS"}
                                    for totals in WEEK_TOTALS]


def test_symbol_absent_from_rolling_has_no_rolling_data():
    volume = venue_volume([("AAA", "NITE", 100, 1), ("BBB", "NITE", 100, 1)])
    week = aggregate(volume, CTX)
    only_aaa = week.symbol_summary.filter(pc.equal(week.symbol_summary["symbol"], "AAA"))
    rolling = rolling_6w(only_aaa, WINDOW, CTX)
    snapshot = research_snapshot(week.symbol_summary, volume, rolling.rolling, week.checks, CTX)
    assert snapshot.select(["symbol", "rolling_weeks_available", "has_rolling_data"]).to_pylist() == [
        {"symbol": "AAA", "rolling_weeks_available": 1, "has_rolling_data": True},
        {"symbol": "BBB", "rolling_weeks_available": None, "has_rolling_data": False},
    ]


def test_empty_week_gives_empty_snapshot():
    snapshot = snapshot_without_rolling([])
    assert snapshot.num_rows == 0
    assert plain(snapshot.schema) == Table.RESEARCH_SNAPSHOT.schema


# --- quality status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "quality_status"),
    [
        pytest.param(["PASS"], "PASS", id="single-pass"),
        pytest.param(["PASS", "PASS", "PASS"], "PASS", id="all-pass"),
        pytest.param(["PASS", "WARN", "PASS"], "WARN", id="one-warn"),
        pytest.param(["WARN", "WARN"], "WARN", id="all-warn"),
        pytest.param(["PASS", "WARN", "FAIL"], "FAIL", id="fail-beats-warn"),
        pytest.param(["FAIL", "PASS", "WARN"], "FAIL", id="fail-listed-first"),
        pytest.param(["FAIL"], "FAIL", id="single-fail"),
    ],
)
def test_quality_status_is_worst_check(statuses, quality_status):
    snapshot = snapshot_without_rolling([("AAA", "NITE", 1, 1), ("BBB", "VIRT", 1, 1)], checks(*statuses))
    assert snapshot["quality_status"].to_pylist() == [quality_status, quality_status]


def test_quality_status_fails_when_the_week_check_fails():
    # 6000 equal venues: shares round up to 0.0167 each and sum to 100.2, outside [99.9, 100.1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    rows = [("AAA", "".join(alphabet[(i // 26**k) % 26] for k in (3, 2, 1, 0)), 10, 1) for i in range(6000)]
    snapshot = snapshot_without_rolling(rows)
    assert snapshot.select(["symbol", "top_venue_mpid", "quality_status"]).to_pylist() == [
        {"symbol": "AAA", "top_venue_mpid": "AAAA", "quality_status": "FAIL"},
    ]


def test_rows_are_matched_by_symbol_and_a_null_symbol_matches_nothing():
    from otc.snapshot import _left_join

    left = pa.table({"symbol": ["B", None, "A", "C"], "total_volume": [1, 2, 3, 4]})
    right = pa.table({"symbol": ["A", None, "B"], "top_venue_mpid": ["AAAA", "NULL", "BBBB"]})
    joined = _left_join(left, right)
    assert joined.column_names == ["symbol", "total_volume", "top_venue_mpid"]
    assert joined["top_venue_mpid"].to_pylist() == ["BBBB", None, "AAAA", None]  # left's order kept
    assert _left_join(left, right.slice(0, 0))["top_venue_mpid"].to_pylist() == [None] * 4
