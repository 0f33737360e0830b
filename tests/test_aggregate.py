"""Aggregate: per-symbol summary, per-venue market share and the week's quality checks (docs/tables.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from otc.aggregate import INPUT_COLUMNS as AGGREGATE_INPUT_COLUMNS
from otc.aggregate import aggregate
from otc.errors import OtcError
from otc.context import StageContext
from otc.schemas import Table, plain
from otc.tiers import Tier

from tables import venue_volume

WEEK = dt.date(2025, 12, 26)
NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)
CTX = StageContext(Tier.NMS_TIER_1, WEEK, "exec_test", "batch_test", NOW)
COMMON = {"week_ending": WEEK, "tier": "NMS_TIER_1", "execution_id": "exec_test", "batch_id": "batch_test",
          "calculation_version": "v1.0.0", "calculated_at": NOW}
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def mpid(i: int) -> str:
    """The i-th 4-character MPID (base 36): 0000, 0001, ..."""
    return "".join(_ALPHABET[(i // 36**k) % 36] for k in (3, 2, 1, 0))


def checks_of(result) -> dict[str, tuple[str, str]]:
    return {r["check_name"]: (r["check_category"], r["status"]) for r in result.checks.to_pylist()}


# --- symbol summary ------------------------------------------------------------------------


def test_symbol_summary_totals_distinct_venues_and_average():
    result = aggregate(venue_volume([
        ("MSFT", "NITE", 629000, 4400),
        ("AAPL", "VIRT", 250125, 1000),
        ("ZERO", "CDEL", 500, 0),
        ("MSFT", "VIRT", 500000, 3600),
        ("AAPL", "NITE", 100, 3),
    ]), CTX)
    expected = [
        # 250225 / 1003 = 249.4765.. -> 249.48
        {"symbol": "AAPL", "total_volume": 250225, "total_trades": 1003, "venue_count": 2,
         "avg_trade_size": Decimal("249.48")},
        # 1129000 / 8000 = 141.125 -> 141.13 (half up, not half even)
        {"symbol": "MSFT", "total_volume": 1129000, "total_trades": 8000, "venue_count": 2,
         "avg_trade_size": Decimal("141.13")},
        # no trades: average 0
        {"symbol": "ZERO", "total_volume": 500, "total_trades": 0, "venue_count": 1,
         "avg_trade_size": Decimal("0.00")},
    ]
    assert plain(result.symbol_summary.schema) == Table.SYMBOL_SUMMARY.schema
    assert result.symbol_summary.to_pylist() == [{**COMMON, **r} for r in expected]


def test_input_split_into_chunks_gives_the_same_tables():
    rows = [("MSFT", "NITE", 629000, 4400), ("AAPL", "VIRT", 250125, 1000), ("ZERO", "CDEL", 500, 0),
            ("MSFT", "VIRT", 500000, 3600), ("AAPL", "NITE", 100, 3)]
    whole = aggregate(venue_volume(rows), CTX)
    chunked = aggregate(pa.concat_tables(
        [venue_volume(rows[:2]), venue_volume([]), venue_volume(rows[2:3]), venue_volume(rows[3:])]), CTX)
    assert chunked.symbol_summary.equals(whole.symbol_summary)
    assert chunked.venue_share.equals(whole.venue_share)
    assert chunked.checks.equals(whole.checks)


def as_read_by_the_stage(table: pa.Table) -> pa.Table:
    """The columns aggregate reads, symbol and mpid dictionary-encoded (each chunk its own dictionary)."""
    table = table.select(AGGREGATE_INPUT_COLUMNS)
    for name in ("symbol", "mpid"):
        chunks = [chunk.dictionary_encode() for chunk in table[name].chunks]
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pa.chunked_array(chunks, pa.dictionary(pa.int32(), pa.string())))
    return table


@pytest.mark.parametrize("repeat", [False, True], ids=["pairs-distinct", "a-pair-repeats"])
def test_dictionary_encoded_chunks_give_the_same_tables(repeat):
    rows = [("MSFT", "NITE", 629000, 4400), ("AAPL", "VIRT", 250125, 1000), ("ZERO", "CDEL", 500, 0),
            ("MSFT", "VIRT", 500000, 3600), ("AAPL", "NITE", 100, 3)]
    if repeat:
        rows.append(("AAPL", "VIRT", 7, 1))
    plain_table = pa.concat_tables([venue_volume(rows[:2]), venue_volume(rows[2:])])
    whole = aggregate(plain_table, CTX)
    encoded = aggregate(as_read_by_the_stage(plain_table), CTX)
    assert encoded.symbol_summary.equals(whole.symbol_summary)
    assert encoded.venue_share.equals(whole.venue_share)
    venues = dict(zip(whole.symbol_summary["symbol"].to_pylist(), whole.symbol_summary["venue_count"].to_pylist()))
    assert venues == {"AAPL": 2, "MSFT": 2, "ZERO": 1}


@pytest.mark.parametrize(
    ("shares", "fails"),
    [
        pytest.param([2**62, 2**62 - 1], False, id="magnitudes-sum-to-2^63-1"),
        pytest.param([2**62, 2**62], True, id="magnitudes-sum-to-2^63"),
        pytest.param([-(2**62), 2**62], True, id="negative-counts-by-magnitude"),
        pytest.param([-(2**63)], True, id="int64-min-has-magnitude-2^63"),
        pytest.param([3] * 1000, False, id="many-small-values"),
    ],
)
def test_weeks_whose_totals_leave_int64_are_refused(shares, fails):
    """Refused when the magnitudes add up to 2**63 or more: then some per-symbol or per-venue
    total could leave int64 (normalize rejects negative counts, so real weeks have none)."""
    table = venue_volume([("AAA", mpid(i), s, 10**6) for i, s in enumerate(shares)])
    if fails:
        with pytest.raises(OtcError, match="total_shares of the week add up beyond the int64 range"):
            aggregate(table, CTX)
    else:
        assert aggregate(table, CTX).symbol_summary["total_volume"].to_pylist() == [sum(shares)]


@pytest.mark.parametrize(
    ("shares", "trades", "average"),
    [
        pytest.param(850000, 3200, "265.63", id="265.625-tie-rounds-up"),
        pytest.param(1, 8, "0.13", id="0.125-tie-rounds-up"),
        pytest.param(1, 3, "0.33", id="one-third"),
        pytest.param(2, 3, "0.67", id="two-thirds"),
        pytest.param(1003, 1, "1003.00", id="whole-number"),
        pytest.param(5, 0, "0.00", id="no-trades-is-zero"),
        pytest.param(0, 5, "0.00", id="no-shares-is-zero"),
        pytest.param(5 * 10**16, 7, "7142857142857142.86", id="huge-volume-stays-exact"),
    ],
)
def test_avg_trade_size_is_rounded_half_up_to_cents(shares, trades, average):
    result = aggregate(venue_volume([("AAA", "NITE", shares, trades)]), CTX)
    assert result.symbol_summary["avg_trade_size"].to_pylist() == [Decimal(average)]


@pytest.mark.parametrize(
    ("rows", "venue_count"),
    [
        pytest.param([("AAA", "NITE", 1, 1)], 1, id="one-venue"),
        pytest.param([("AAA", "NITE", 1, 1), ("AAA", "VIRT", 1, 1), ("AAA", "CDEL", 1, 1)], 3, id="three-venues"),
        pytest.param([("AAA", "NITE", 1, 1), ("BBB", "VIRT", 1, 1), ("BBB", "NITE", 1, 1)], 1,
                     id="other-symbols-venues-do-not-count"),
        pytest.param([("AAA", "NITE", 1, 1), ("AAA", "NITE", 2, 1), ("AAA", "VIRT", 1, 1)], 2,
                     id="repeated-mpid-counted-once"),
    ],
)
def test_venue_count_is_distinct_mpids_of_the_symbol(rows, venue_count):
    result = aggregate(venue_volume(rows), CTX)
    counts = dict(zip(result.symbol_summary["symbol"].to_pylist(), result.symbol_summary["venue_count"].to_pylist()))
    assert counts["AAA"] == venue_count


# --- venue share ---------------------------------------------------------------------------


def test_venue_share_totals_and_market_share_rounded_half_up():
    result = aggregate(venue_volume([
        ("AAA", "VIRT", 5939892, 20),
        ("AAA", "NITE", 2000108, 10),
        ("CCC", "UBSS", 0, 0),
        ("BBB", "NITE", 700000, 3),
    ]), CTX)
    # week volume 8640000
    expected = [
        # 100 * 2700108 / 8640000 = 31.25125 -> 31.2513
        {"mpid": "NITE", "total_volume": 2700108, "total_trades": 13, "market_share_pct": Decimal("31.2513")},
        {"mpid": "UBSS", "total_volume": 0, "total_trades": 0, "market_share_pct": Decimal("0.0000")},
        # 100 * 5939892 / 8640000 = 68.74875 -> 68.7488
        {"mpid": "VIRT", "total_volume": 5939892, "total_trades": 20, "market_share_pct": Decimal("68.7488")},
    ]
    assert plain(result.venue_share.schema) == Table.VENUE_SHARE.schema
    assert result.venue_share.to_pylist() == [{**COMMON, **r} for r in expected]


def test_market_share_is_zero_when_the_week_has_no_volume():
    result = aggregate(venue_volume([("AAA", "NITE", 0, 0), ("AAA", "VIRT", 0, 2)]), CTX)
    assert result.venue_share["market_share_pct"].to_pylist() == [Decimal("0.0000"), Decimal("0.0000")]


@pytest.mark.parametrize(
    ("venues", "status", "share_sum"),
    [
        pytest.param(4, "PASS", "100.0000", id="4-equal-venues-sum-exactly-100"),
        pytest.param(3, "PASS", "99.9999", id="3-equal-venues-sum-99.9999"),
        pytest.param(3000, "PASS", "99.9000", id="3000-equal-venues-sum-99.9-lower-bound"),
        pytest.param(7000, "PASS", "100.1000", id="7000-equal-venues-sum-100.1-upper-bound"),
        pytest.param(12000, "FAIL", "99.6000", id="12000-equal-venues-sum-99.6-below"),
        pytest.param(6000, "FAIL", "100.2000", id="6000-equal-venues-sum-100.2-above"),
    ],
)
def test_market_share_sum_100_passes_within_tolerance(venues, status, share_sum):
    # every venue trades the same volume: each share is 100 / venues rounded to 4 dp, and the
    # rounding error adds up (3000 * 0.0333 = 99.9; 6000 * 0.0167 = 100.2)
    result = aggregate(venue_volume([("AAA", mpid(i), 10, 1) for i in range(venues)]), CTX)
    (check,) = [r for r in result.checks.to_pylist() if r["check_name"] == "market_share_sum_100"]
    assert (check["check_category"], check["status"], Decimal(check["check_value"])) == (
        "BUSINESS_RULE", status, Decimal(share_sum))


def test_market_share_sum_100_fails_when_every_volume_is_zero():
    result = aggregate(venue_volume([("AAA", "NITE", 0, 1), ("BBB", "VIRT", 0, 1)]), CTX)
    assert checks_of(result)["market_share_sum_100"] == ("BUSINESS_RULE", "FAIL")


# --- checks --------------------------------------------------------------------------------


def test_ordinary_week_passes_every_check():
    result = aggregate(venue_volume([("AAA", "NITE", 300, 3), ("AAA", "VIRT", 100, 1), ("BBB", "VIRT", 600, 2)]), CTX)
    assert {r["check_name"]: (r["check_category"], r["status"], r["check_value"])
            for r in result.checks.to_pylist()} == {
        "no_negative_volumes": ("INTEGRITY", "PASS", "0"),
        "no_negative_trades": ("INTEGRITY", "PASS", "0"),
        "market_share_sum_100": ("BUSINESS_RULE", "PASS", "100.0000"),
        "no_duplicate_symbols": ("INTEGRITY", "PASS", "0"),
        "symbol_count_positive": ("COMPLETENESS", "PASS", "2"),
        "venue_count_positive": ("COMPLETENESS", "PASS", "2"),
    }


def test_empty_week_completes_with_empty_tables_and_failing_checks():
    result = aggregate(venue_volume([]), CTX)
    assert result.symbol_summary.num_rows == 0
    assert plain(result.symbol_summary.schema) == Table.SYMBOL_SUMMARY.schema
    assert result.venue_share.num_rows == 0
    assert plain(result.venue_share.schema) == Table.VENUE_SHARE.schema
    assert checks_of(result) == {
        "no_negative_volumes": ("INTEGRITY", "PASS"),
        "no_negative_trades": ("INTEGRITY", "PASS"),
        "market_share_sum_100": ("BUSINESS_RULE", "FAIL"),
        "no_duplicate_symbols": ("INTEGRITY", "PASS"),
        "symbol_count_positive": ("COMPLETENESS", "FAIL"),
        "venue_count_positive": ("COMPLETENESS", "FAIL"),
    }


@pytest.mark.parametrize(
    ("rows", "failing"),
    [
        pytest.param([("AAA", "NITE", -5, 1), ("AAA", "VIRT", 10, 1)], "no_negative_volumes", id="negative-shares"),
        pytest.param([("AAA", "NITE", 5, -1), ("AAA", "VIRT", 10, 1)], "no_negative_trades", id="negative-trades"),
    ],
)
def test_negative_rows_fail_their_integrity_check(rows, failing):
    # normalize rejects these, so only a broken upstream could deliver them: the check is the net
    checks = {r["check_name"]: r for r in aggregate(venue_volume(rows), CTX).checks.to_pylist()}
    assert (checks[failing]["status"], checks[failing]["check_value"]) == ("FAIL", "1")


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([("AAA", "NITE", 300, 3), ("BBB", "VIRT", 600, 2)], id="ordinary-week"),
        pytest.param([], id="empty-week"),
    ],
)
def test_every_check_row_has_category_value_expected_tolerance_and_message(rows):
    checks = aggregate(venue_volume(rows), CTX).checks
    assert plain(checks.schema) == Table.QUALITY_CHECKS.schema
    assert checks.num_rows == 6
    for row in checks.to_pylist():
        assert row["week_ending"] == WEEK and row["tier"] == "NMS_TIER_1"
        assert row["pipeline_name"] == "otc.aggregate_week"
        assert row["created_at"] == NOW
        missing = [c for c in ("check_category", "check_value", "expected_value", "tolerance", "message")
                   if row[c] in (None, "")]
        assert missing == [], f"{row['check_name']} lacks {missing}"
