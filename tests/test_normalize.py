"""Normalize: each raw record ACCEPTED or REJECTED by the first failing rule (docs/tables.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pyarrow as pa
import pytest

from otc.context import StageContext
from otc.errors import OtcError
from otc.ingest import ingest
from otc.normalize import normalize
from otc.schemas import Table, plain
from otc.sources import SourceFile
from otc.tiers import Tier

WEEK = dt.date(2025, 12, 26)
NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)
CTX = StageContext(Tier.NMS_TIER_1, WEEK, "exec_test", "batch_test", NOW)
HEADER = "WeekEnding|Tier|Symbol|MPID|TotalShares|TotalTrades"


def psv(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def raw_from(*records: tuple[str, str, int, int]) -> pa.Table:
    """The raw table ingest makes of a fixture file: header on line 1, records from line 2."""
    data = psv(HEADER, *(f"2025-12-26|NMS_TIER_1|{s}|{m}|{sh}|{tr}" for s, m, sh, tr in records))
    result = ingest(SourceFile("test.psv", data, "sha", len(data)), CTX)
    assert result.rejects.num_rows == 0 and result.counts.skipped == 0  # inputs are all parseable
    return result.raw


def raw_table(*records: tuple[int, str, str, int, int]) -> pa.Table:
    """A hand-built raw table: (line, symbol, mpid, shares, trades) per row, in the given order."""
    n = len(records)
    return pa.table({
        "week_ending": pa.array([WEEK] * n, pa.date32()),
        "tier": ["NMS_TIER_1"] * n,
        "record_hash": [f"hash{line}" for line, *_ in records],
        "source_line_number": pa.array([r[0] for r in records], pa.int64()),
        "symbol": [r[1] for r in records],
        "mpid": [r[2] for r in records],
        "total_shares": pa.array([r[3] for r in records], pa.int64()),
        "total_trades": pa.array([r[4] for r in records], pa.int64()),
        "issue_name": pa.nulls(n, pa.string()),
        "market_participant_name": pa.nulls(n, pa.string()),
        "source_last_update_date": pa.nulls(n, pa.string()),
        "ingested_at": pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
        "execution_id": ["exec_ingest"] * n,
        "batch_id": ["batch_test"] * n,
    }).select(Table.RAW.schema.names).cast(Table.RAW.schema)


def run(raw: pa.Table, reject_zero_volume: bool = False):
    return normalize(raw, CTX, "test.psv", reject_zero_volume=reject_zero_volume)


def outcome(result) -> list[tuple[str, str | None]]:
    """(status, reject_reason) per record, in file order."""
    return [(r["status"], r["reject_reason"]) for r in result.normalization_map.to_pylist()]


def reject_of(result) -> dict:
    rows = result.rejects.to_pylist()
    assert len(rows) == 1
    return rows[0]


# --- single rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "symbol",
    [
        pytest.param("BAD$YM", id="dollar-sign"),
        pytest.param("TOOLONGSYMBOL1", id="fourteen-characters"),
        pytest.param("ABCDEFGHIJK", id="eleven-characters"),
        pytest.param("1ABC", id="leading-digit"),
        pytest.param(".ABC", id="leading-dot"),
        pytest.param("-ABC", id="leading-dash"),
        pytest.param("AB CD", id="inner-space"),
        pytest.param("AB/C", id="slash"),
        pytest.param("ÄBC", id="non-ascii-letter"),
    ],
)
def test_invalid_symbol_is_rejected_naming_the_value(symbol):
    result = run(raw_from((symbol, "NITE", 100, 10)))

    assert outcome(result) == [("REJECTED", "INVALID_SYMBOL")]
    assert symbol in reject_of(result)["reason_detail"]
    assert result.venue_volume.num_rows == 0


@pytest.mark.parametrize(
    ("symbol", "stored"),
    [
        pytest.param("BRK.B", "BRK.B", id="dot-class"),
        pytest.param("BF-B", "BF-B", id="dash-class"),
        pytest.param("aapl", "AAPL", id="lower-case-upper-cased"),
        pytest.param("Brk.b", "BRK.B", id="mixed-case"),
        pytest.param("A", "A", id="one-letter"),
        pytest.param("ABCDEFGHIJ", "ABCDEFGHIJ", id="ten-characters"),
        pytest.param("X1", "X1", id="letter-digit"),
    ],
)
def test_valid_symbol_is_accepted_upper_cased(symbol, stored):
    result = run(raw_from((symbol, "nite", 100, 10)))

    assert outcome(result) == [("ACCEPTED", None)]
    assert result.venue_volume.select(["symbol", "mpid"]).to_pylist() == [{"symbol": stored, "mpid": "NITE"}]
    assert result.normalization_map.select(["symbol", "mpid"]).to_pylist() == [
        {"symbol": stored, "mpid": "NITE"}
    ]


@pytest.mark.parametrize(
    "mpid",
    [
        pytest.param("NIT", id="three-characters"),
        pytest.param("NITEX", id="five-characters"),
        pytest.param("NI-E", id="dash"),
        pytest.param("NI E", id="inner-space"),
        pytest.param("NI.E", id="dot"),
    ],
)
def test_invalid_mpid_is_rejected_naming_the_value(mpid):
    result = run(raw_from(("AAPL", mpid, 100, 10)))

    assert outcome(result) == [("REJECTED", "INVALID_MPID")]
    assert mpid in reject_of(result)["reason_detail"]


@pytest.mark.parametrize(
    ("mpid", "stored"),
    [
        pytest.param("nite", "NITE", id="lower-case"),
        pytest.param("CDE1", "CDE1", id="with-digit"),
        pytest.param("1234", "1234", id="all-digits"),
    ],
)
def test_valid_mpid_is_accepted_upper_cased(mpid, stored):
    result = run(raw_from(("AAPL", mpid, 100, 10)))

    assert outcome(result) == [("ACCEPTED", None)]
    assert result.venue_volume.column("mpid").to_pylist() == [stored]


def test_negative_volume_is_rejected_with_the_value_in_the_detail():
    result = run(raw_from(("AAPL", "NITE", -50000, 10)))

    assert outcome(result) == [("REJECTED", "NEGATIVE_VOLUME")]
    assert reject_of(result)["reason_detail"] == "total_shares=-50000"


def test_negative_trades_are_rejected_with_the_value_in_the_detail():
    result = run(raw_from(("AAPL", "NITE", 100, -7)))

    assert outcome(result) == [("REJECTED", "NEGATIVE_TRADES")]
    assert "-7" in reject_of(result)["reason_detail"]


def test_zero_volume_is_rejected_only_when_asked():
    raw = raw_from(("AAPL", "NITE", 0, 5), ("MSFT", "NITE", 10, 5))

    strict = run(raw, reject_zero_volume=True)
    lenient = run(raw, reject_zero_volume=False)

    assert outcome(strict) == [("REJECTED", "ZERO_VOLUME"), ("ACCEPTED", None)]
    assert "0" in reject_of(strict)["reason_detail"]
    assert outcome(lenient) == [("ACCEPTED", None), ("ACCEPTED", None)]


def test_zero_shares_and_zero_trades_accepted_with_zero_average_by_default():
    result = run(raw_from(("AAPL", "NITE", 0, 0)))

    assert outcome(result) == [("ACCEPTED", None)]
    assert result.venue_volume.select(["total_shares", "total_trades", "avg_trade_size"]).to_pylist() == [
        {"total_shares": 0, "total_trades": 0, "avg_trade_size": Decimal("0.00")}
    ]


@pytest.mark.parametrize(
    ("record", "zero_rule", "reason"),
    [
        pytest.param(("BAD$YM", "NIT", -1, -1), False, "INVALID_SYMBOL", id="symbol-before-everything"),
        pytest.param(("BAD$YM", "NITE", -50000, 10), False, "INVALID_SYMBOL", id="symbol-before-volume"),
        pytest.param(("AAPL", "NIT", -1, -1), False, "INVALID_MPID", id="mpid-before-volume"),
        pytest.param(("AAPL", "NITE", -1, -1), False, "NEGATIVE_VOLUME", id="volume-before-trades"),
        pytest.param(("AAPL", "NITE", 0, -1), True, "NEGATIVE_TRADES", id="trades-before-zero-volume"),
        pytest.param(("AAPL", "NIT", 0, 5), True, "INVALID_MPID", id="mpid-before-zero-volume"),
    ],
)
def test_first_failing_rule_wins(record, zero_rule, reason):
    result = run(raw_from(record), reject_zero_volume=zero_rule)

    assert outcome(result) == [("REJECTED", reason)]
    assert reject_of(result)["reason_code"] == reason


# --- duplicate keys ---------------------------------------------------------------------------


def test_second_record_of_a_symbol_and_mpid_is_a_duplicate_first_wins():
    result = run(raw_from(("AAPL", "NITE", 100, 10), ("MSFT", "NITE", 1, 1), ("aapl", "nite", 200, 20)))

    assert outcome(result) == [("ACCEPTED", None), ("ACCEPTED", None), ("REJECTED", "DUPLICATE_KEY")]
    reject = reject_of(result)
    assert reject["line_number"] == 4
    assert reject["reason_detail"] == "symbol=AAPL mpid=NITE already accepted at line 2"
    aapl = [r for r in result.venue_volume.to_pylist() if r["symbol"] == "AAPL"]
    assert [(r["total_shares"], r["total_trades"]) for r in aapl] == [(100, 10)]


def test_every_later_repeat_of_a_key_is_a_duplicate():
    result = run(raw_from(("AAPL", "NITE", 1, 1), ("AAPL", "NITE", 2, 1), ("AAPL", "NITE", 3, 1)))

    assert outcome(result) == [("ACCEPTED", None), ("REJECTED", "DUPLICATE_KEY"), ("REJECTED", "DUPLICATE_KEY")]
    assert result.venue_volume.column("total_shares").to_pylist() == [1]


def test_record_rejected_for_another_reason_does_not_claim_the_key():
    result = run(raw_from(("AAPL", "NITE", -5, 10), ("AAPL", "NITE", 100, 10), ("AAPL", "NITE", 200, 10)))

    assert outcome(result) == [
        ("REJECTED", "NEGATIVE_VOLUME"), ("ACCEPTED", None), ("REJECTED", "DUPLICATE_KEY")
    ]
    assert result.venue_volume.column("total_shares").to_pylist() == [100]


def test_same_symbol_at_other_venues_is_not_a_duplicate():
    result = run(raw_from(("AAPL", "NITE", 1, 1), ("AAPL", "VIRT", 2, 1), ("MSFT", "NITE", 3, 1)))

    assert outcome(result) == [("ACCEPTED", None)] * 3


def test_first_in_file_order_wins_even_when_raw_rows_arrive_unsorted():
    raw = pa.concat_tables([
        raw_table((5, "AAPL", "NITE", 500, 5)),
        raw_table((2, "aapl", "NITE", 200, 2), (9, "MSFT", "VIRT", 9, 1)),
    ])

    result = run(raw)

    assert result.normalization_map.select(["raw_record_hash", "status", "reject_reason"]).to_pylist() == [
        {"raw_record_hash": "hash2", "status": "ACCEPTED", "reject_reason": None},
        {"raw_record_hash": "hash5", "status": "REJECTED", "reject_reason": "DUPLICATE_KEY"},
        {"raw_record_hash": "hash9", "status": "ACCEPTED", "reject_reason": None},
    ]
    assert reject_of(result)["line_number"] == 5
    assert sorted(result.venue_volume.column("total_shares").to_pylist()) == [9, 200]


def test_symbol_and_mpid_are_trimmed_before_validation_and_duplicate_check():
    result = run(raw_table((2, " aapl ", " nite", 1, 1), (3, "AAPL", "NITE", 2, 1)))

    assert outcome(result) == [("ACCEPTED", None), ("REJECTED", "DUPLICATE_KEY")]
    assert result.venue_volume.select(["symbol", "mpid"]).to_pylist() == [{"symbol": "AAPL", "mpid": "NITE"}]


# --- avg_trade_size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "trades", "expected"),
    [
        pytest.param(1005, 200, "5.03", id="tie-5.025-rounds-up"),
        pytest.param(250125, 1000, "250.13", id="tie-250.125-rounds-up"),
        pytest.param(1, 3, "0.33", id="one-third"),
        pytest.param(2, 3, "0.67", id="two-thirds"),
        pytest.param(7, 2, "3.50", id="exact-half"),
        pytest.param(1000, 10, "100.00", id="whole"),
        pytest.param(1, 200, "0.01", id="tie-0.005-rounds-up"),
        pytest.param(1, 201, "0.00", id="just-below-half-cent"),
        pytest.param(0, 0, "0.00", id="zero-over-zero"),
        pytest.param(500, 0, "0.00", id="no-trades"),
        pytest.param(9999999999999999, 1, "9999999999999999.00", id="largest-that-fits"),
    ],
)
def test_avg_trade_size_is_shares_over_trades_half_up_2dp(shares, trades, expected):
    result = run(raw_from(("AAPL", "NITE", shares, trades)))

    [value] = result.venue_volume.column("avg_trade_size").to_pylist()
    assert value == Decimal(expected)
    assert str(value) == expected


def test_huge_volume_with_few_trades_does_not_crash_normalize():
    # int64 shares are valid input; an average beyond decimal128(18, 2) must not escape as a
    # bare OverflowError (only OtcError is turned into a failed stage with a message).
    raw = raw_from(("AAPL", "NITE", 10**17, 1), ("MSFT", "NITE", 100, 10))

    try:
        result = run(raw)
    except OtcError:
        return
    assert result.normalization_map.num_rows == 2


# --- map, rejects and shape -------------------------------------------------------------------


def test_every_record_gets_exactly_one_map_row_in_file_order():
    raw = raw_from(
        ("AAPL", "NITE", 100, 10),   # line 2 accepted
        ("BAD$YM", "NITE", 1, 1),    # line 3 INVALID_SYMBOL
        ("msft", "virt", 50, 5),     # line 4 accepted
        ("NVDA", "NI-E", 1, 1),      # line 5 INVALID_MPID
    )

    result = run(raw)

    hashes = raw.column("record_hash").to_pylist()
    rows = result.normalization_map.to_pylist()
    assert [r["raw_record_hash"] for r in rows] == hashes
    assert [(r["symbol"], r["mpid"], r["status"], r["reject_reason"]) for r in rows] == [
        ("AAPL", "NITE", "ACCEPTED", None),
        (None, None, "REJECTED", "INVALID_SYMBOL"),
        ("MSFT", "VIRT", "ACCEPTED", None),
        (None, None, "REJECTED", "INVALID_MPID"),
    ]
    assert [r["reject_detail"] is None for r in rows] == [True, False, True, False]
    assert {(r["week_ending"], r["tier"], r["execution_id"], r["batch_id"], r["created_at"]) for r in rows} == {
        (WEEK, "NMS_TIER_1", "exec_test", "batch_test", NOW)
    }


def test_rejects_carry_stage_raw_hash_and_raw_line_number():
    raw = raw_from(("AAPL", "NITE", 100, 10), ("BAD$YM", "NITE", 1, 1), ("MSFT", "VIRT", -50000, 5))

    result = run(raw)

    rows = result.rejects.to_pylist()
    raw_hash = dict(zip(raw.column("source_line_number").to_pylist(), raw.column("record_hash").to_pylist()))
    assert [(r["line_number"], r["stage"], r["reason_code"], r["raw_record_hash"]) for r in rows] == [
        (3, "NORMALIZE", "INVALID_SYMBOL", raw_hash[3]),
        (4, "NORMALIZE", "NEGATIVE_VOLUME", raw_hash[4]),
    ]
    assert raw_hash[3] == hashlib.sha256(b"2025-12-26|NMS_TIER_1|BAD$YM|NITE|1|1").hexdigest()[:32]
    assert {(r["source_locator"], r["execution_id"], r["created_at"]) for r in rows} == {
        ("test.psv", "exec_test", NOW)
    }
    assert "BAD$YM" in rows[0]["raw_line"]


def test_venue_volume_rows_carry_the_raw_hash_and_context():
    raw = raw_from(("AAPL", "NITE", 1005, 200))

    result = run(raw)

    assert result.venue_volume.to_pylist() == [{
        "week_ending": WEEK, "tier": "NMS_TIER_1", "symbol": "AAPL", "mpid": "NITE",
        "total_shares": 1005, "total_trades": 200, "avg_trade_size": Decimal("5.03"),
        "raw_record_hash": raw.column("record_hash")[0].as_py(), "normalized_at": NOW,
        "execution_id": "exec_test", "batch_id": "batch_test",
    }]


def test_inserted_equals_accepted_plus_rejected():
    raw = raw_from(
        ("AAPL", "NITE", 100, 10), ("AAPL", "NITE", 101, 10), ("1BAD", "NITE", 1, 1),
        ("MSFT", "NIT", 1, 1), ("NVDA", "CDEL", -1, 1), ("AMD", "CDEL", 1, -1),
        ("AMD", "UBSS", 0, 0), ("TSLA", "VIRT", 3, 1),
    )

    result = run(raw, reject_zero_volume=True)

    assert (result.accepted, result.rejected) == (2, 6)
    assert result.accepted + result.rejected == raw.num_rows
    assert result.normalization_map.num_rows == raw.num_rows
    assert result.venue_volume.num_rows == result.accepted
    assert result.rejects.num_rows == result.rejected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(raw_table(), id="empty"),
        pytest.param(raw_table((2, "AAPL", "NITE", 1, 1), (3, "BAD$", "NITE", 1, 1)), id="mixed"),
        pytest.param(raw_table((2, "BAD$", "NITE", 1, 1)), id="all-rejected"),
    ],
)
def test_outputs_have_the_contract_schemas(raw):
    result = run(raw)

    assert plain(result.venue_volume.schema) == Table.VENUE_VOLUME.schema
    assert plain(result.normalization_map.schema) == Table.NORMALIZATION_MAP.schema
    assert plain(result.rejects.schema) == Table.REJECTS.schema
    assert result.normalization_map.num_rows == raw.num_rows
