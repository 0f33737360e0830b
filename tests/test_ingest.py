"""Ingest: a source file's bytes to raw records, INGEST rejects and counts (docs/tables.md)."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pyarrow as pa
import pytest

from otc import ingest as ingest_module
from otc.context import StageContext
from otc.errors import SourceError
from otc.ingest import IngestCounts, first_occurrence, hex_prefix, ingest, record_hashes, sha256_lines
from otc.schemas import Table, plain
from otc.sources import SourceFile, SourceFormat
from otc.tiers import Tier

WEEK = dt.date(2025, 12, 26)
NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)
CTX = StageContext(Tier.NMS_TIER_1, WEEK, "exec_test", "batch_test", NOW)

FIXTURE_HEADER = "WeekEnding|Tier|Symbol|MPID|TotalShares|TotalTrades"
FINRA_HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID"
    "|totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)
GOOD = "2025-12-26|NMS_TIER_1|AAPL|NITE|1000|10"
GOOD_2 = "2025-12-26|NMS_TIER_1|MSFT|VIRT|500|5"


def psv(*lines: str, end: str = "\n") -> bytes:
    """A source file's bytes: each line followed by `end`."""
    return "".join(line + end for line in lines).encode("utf-8")


def run(data: bytes, ctx: StageContext = CTX):
    return ingest(SourceFile("test.psv", data, "sha", len(data)), ctx)


def sha32(text: str) -> str:
    """Independent reference for record_hash."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


# --- PARSE_ERROR causes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "detail"),
    [
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1000",
                     "Expected 6 pipe-delimited fields, got 5", id="too-few-fields"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1000|10|extra",
                     "Expected 6 pipe-delimited fields, got 7", id="too-many-fields"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1000|10|",
                     "Expected 6 pipe-delimited fields, got 7", id="trailing-pipe"),
        pytest.param("just some text", "Expected 6 pipe-delimited fields, got 1", id="no-pipes"),
        pytest.param("2025-13-01|NMS_TIER_1|AAPL|NITE|1000|10",
                     "Invalid week_ending: '2025-13-01'", id="invalid-month"),
        pytest.param("2025-02-30|NMS_TIER_1|AAPL|NITE|1000|10",
                     "Invalid week_ending: '2025-02-30'", id="impossible-day-of-month"),
        pytest.param("26/12/2025|NMS_TIER_1|AAPL|NITE|1000|10",
                     "Invalid week_ending: '26/12/2025'", id="not-iso-date"),
        pytest.param("|NMS_TIER_1|AAPL|NITE|1000|10", "Invalid week_ending: ''", id="empty-week"),
        pytest.param(
            "2025-12-25|NMS_TIER_1|AAPL|NITE|1000|10",
            "week_ending must be a Friday, got 2025-12-25 (Thursday). Nearest Friday: 2025-12-26",
            id="thursday-week",
        ),
        pytest.param(
            "2025-12-27|NMS_TIER_1|AAPL|NITE|1000|10",
            "week_ending must be a Friday, got 2025-12-27 (Saturday). Nearest Friday: 2026-01-02",
            id="saturday-week",
        ),
        pytest.param("2025-12-19|NMS_TIER_1|AAPL|NITE|1000|10",
                     "Week mismatch: file has 2025-12-19, expected 2025-12-26", id="week-mismatch"),
        pytest.param("2025-12-26|NMS_TIER_9|AAPL|NITE|1000|10",
                     "Invalid tier: 'NMS_TIER_9'", id="invalid-tier"),
        pytest.param("2025-12-26||AAPL|NITE|1000|10", "Invalid tier: ''", id="empty-tier"),
        pytest.param("2025-12-26|NMS_TIER_2|AAPL|NITE|1000|10",
                     "Tier mismatch: file has NMS_TIER_2, expected NMS_TIER_1", id="tier-mismatch"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1.5|10",
                     "Invalid total_shares: '1.5'", id="shares-decimal"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1,000|10",
                     "Invalid total_shares: '1,000'", id="shares-thousands-separator"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1e6|10",
                     "Invalid total_shares: '1e6'", id="shares-exponent"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE||10",
                     "Invalid total_shares: ''", id="shares-empty"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE| |10",
                     "Invalid total_shares: ''", id="shares-blank"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|12 34|10",
                     "Invalid total_shares: '12 34'", id="shares-inner-space"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|9223372036854775808|10",
                     "Invalid total_shares: '9223372036854775808'", id="shares-int64-max-plus-one"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|-9223372036854775809|10",
                     "Invalid total_shares: '-9223372036854775809'", id="shares-int64-min-minus-one"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|99999999999999999999|10",
                     "Invalid total_shares: '99999999999999999999'", id="shares-twenty-digits"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1000|1.5",
                     "Invalid total_trades: '1.5'", id="trades-decimal"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1000|",
                     "Invalid total_trades: ''", id="trades-empty"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1000|9223372036854775808",
                     "Invalid total_trades: '9223372036854775808'", id="trades-int64-max-plus-one"),
        pytest.param("2025-12-19|NMS_TIER_2|AAPL|NITE|x|y",
                     "Week mismatch: file has 2025-12-19, expected 2025-12-26",
                     id="several-problems-first-column-wins"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|x|y",
                     "Invalid total_shares: 'x'", id="shares-reported-before-trades"),
    ],
)
def test_unparseable_line_is_rejected_with_reason_and_physical_line_number(bad_line, detail):
    result = run(psv(FIXTURE_HEADER, GOOD, bad_line, GOOD_2))

    rejects = result.rejects.to_pylist()
    assert [(r["line_number"], r["stage"], r["reason_code"], r["reason_detail"]) for r in rejects] == [
        (3, "INGEST", "PARSE_ERROR", detail)
    ]
    assert rejects[0]["raw_line"] == bad_line
    assert col(result.raw, "source_line_number") == [2, 4]


def test_impossible_calendar_date_never_passes_as_a_friday():
    # 2024-02-30 does not exist; a lenient parser rolls it to 2024-03-01, a Friday.
    ctx = StageContext(Tier.NMS_TIER_1, dt.date(2024, 3, 1), "exec_test", "batch_test", NOW)
    result = run(psv("2024-03-01|NMS_TIER_1|AAPL|NITE|1|1", "2024-02-30|NMS_TIER_1|MSFT|NITE|1|1"), ctx)

    assert col(result.raw, "symbol") == ["AAPL"]
    assert col(result.rejects, "reason_detail") == ["Invalid week_ending: '2024-02-30'"]


@pytest.mark.parametrize(
    ("shares", "trades", "expected_shares", "expected_trades"),
    [
        pytest.param("9223372036854775807", "1", 2**63 - 1, 1, id="shares-int64-max"),
        pytest.param("-9223372036854775808", "1", -(2**63), 1, id="shares-int64-min"),
        pytest.param("1", "9223372036854775807", 1, 2**63 - 1, id="trades-int64-max"),
        pytest.param("1", "-9223372036854775808", 1, -(2**63), id="trades-int64-min"),
        pytest.param("0", "0", 0, 0, id="zeros"),
        pytest.param("-50000", "-3", -50000, -3, id="negatives-left-to-normalize"),
    ],
)
def test_integers_across_the_whole_int64_range_are_parsed(shares, trades, expected_shares, expected_trades):
    result = run(psv(f"2025-12-26|NMS_TIER_1|AAPL|NITE|{shares}|{trades}"))

    assert result.rejects.num_rows == 0
    assert col(result.raw, "total_shares") == [expected_shares]
    assert col(result.raw, "total_trades") == [expected_trades]


def test_undecodable_bytes_reject_only_their_own_line():
    data = psv(FIXTURE_HEADER, GOOD) + b"2025-12-26|NMS_TIER_1|AA\xffPL|NITE|1|1\n" + psv(GOOD_2)

    result = run(data)

    assert col(result.raw, "source_line_number") == [2, 4]
    assert col(result.raw, "symbol") == ["AAPL", "MSFT"]
    rejects = result.rejects.to_pylist()
    assert [(r["line_number"], r["reason_code"], r["reason_detail"]) for r in rejects] == [
        (3, "PARSE_ERROR", "Line is not valid UTF-8")
    ]
    assert rejects[0]["raw_line"] == "2025-12-26|NMS_TIER_1|AA\ufffdPL|NITE|1|1"
    assert result.counts == IngestCounts(raw=3, parsed=2, inserted=2, rejected=1, skipped=0)


# --- header, framing and whitespace -----------------------------------------------------------


def test_file_without_header_starts_with_data_on_line_one():
    result = run(psv(GOOD, GOOD_2))

    assert result.source_format is SourceFormat.FIXTURE
    assert col(result.raw, "source_line_number") == [1, 2]
    assert col(result.raw, "symbol") == ["AAPL", "MSFT"]
    assert result.counts == IngestCounts(raw=2, parsed=2, inserted=2, rejected=0, skipped=0)


def test_lines_of_unicode_white_space_alone_are_blank_even_before_the_header():
    data = psv("\u00a0", FIXTURE_HEADER, GOOD, "\u3000\u3000", "\x0b", "\u2003 \t")

    result = run(data)

    assert result.source_format is SourceFormat.FIXTURE
    assert col(result.raw, "source_line_number") == [3]
    assert result.counts == IngestCounts(raw=1, parsed=1, inserted=1, rejected=0, skipped=0)


def test_header_line_is_not_counted_as_a_raw_line():
    result = run(psv(FIXTURE_HEADER, GOOD))

    assert result.source_format is SourceFormat.FIXTURE
    assert col(result.raw, "source_line_number") == [2]
    assert result.counts.raw == 1


def test_bom_crlf_blank_lines_and_padded_fields_are_tolerated_with_physical_line_numbers():
    data = b"\xef\xbb\xbf" + psv(
        " WeekEnding | Tier | Symbol | MPID | TotalShares | TotalTrades ",
        "",
        "  2025-12-26 | NMS_TIER_1 |  AAPL | NITE | 1000 | 10  ",
        "   ",
        "2025-12-26|NMS_TIER_1|MSFT|VIRT|bad|5",
        "",
        "\t2025-12-26|NMS_TIER_1|NVDA|CDEL|7|1",
        end="\r\n",
    )

    result = run(data)

    assert col(result.raw, "source_line_number") == [3, 7]
    assert col(result.raw, "symbol") == ["AAPL", "NVDA"]
    assert col(result.raw, "mpid") == ["NITE", "CDEL"]
    assert col(result.raw, "total_shares") == [1000, 7]
    assert col(result.raw, "total_trades") == [10, 1]
    assert col(result.rejects, "line_number") == [5]
    assert col(result.rejects, "reason_detail") == ["Invalid total_shares: 'bad'"]
    assert col(result.rejects, "raw_line") == ["2025-12-26|NMS_TIER_1|MSFT|VIRT|bad|5"]
    assert result.counts == IngestCounts(raw=3, parsed=2, inserted=2, rejected=1, skipped=0)


def test_bom_before_a_headerless_first_data_line_is_dropped():
    result = run(b"\xef\xbb\xbf" + psv(GOOD))

    assert col(result.raw, "source_line_number") == [1]
    assert col(result.raw, "symbol") == ["AAPL"]


def test_last_line_without_newline_is_read():
    result = run(psv(FIXTURE_HEADER, GOOD) + GOOD_2.encode())

    assert col(result.raw, "source_line_number") == [2, 3]


@pytest.mark.parametrize(
    "first_line",
    [
        pytest.param("Week|Tier|Symbol|MPID|Shares|Trades", id="misspelled-fixture-header"),
        pytest.param("WeekEnding|Tier|Symbol|MPID|TotalShares", id="fixture-header-missing-column"),
        pytest.param("tierDescription|issueSymbolIdentifier|MPID", id="truncated-finra-header"),
        pytest.param("hello world", id="free-text"),
    ],
)
def test_unknown_header_fails_the_file_naming_both_expected_headers(first_line):
    with pytest.raises(SourceError) as excinfo:
        run(psv(first_line, GOOD))

    message = str(excinfo.value)
    assert FIXTURE_HEADER in message
    assert FINRA_HEADER in message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="zero-bytes"),
        pytest.param(b"\n\r\n  \n", id="only-blank-lines"),
        pytest.param(b"\xef\xbb\xbf", id="only-bom"),
    ],
)
def test_empty_file_fails_with_source_error(data):
    with pytest.raises(SourceError, match="empty"):
        run(data)


def test_header_only_file_gives_empty_tables_and_zero_counts():
    result = run(psv(FIXTURE_HEADER))

    assert result.raw.num_rows == 0
    assert result.rejects.num_rows == 0
    assert plain(result.raw.schema) == Table.RAW.schema
    assert plain(result.rejects.schema) == Table.REJECTS.schema
    assert result.counts == IngestCounts(raw=0, parsed=0, inserted=0, rejected=0, skipped=0)


# --- duplicates, hashes and counts ------------------------------------------------------------


@pytest.mark.parametrize(
    "repeat",
    [
        pytest.param(GOOD, id="identical-line"),
        pytest.param("2025-12-26|NMS_TIER_1|aapl|nite|1000|10", id="lower-case-symbol-and-mpid"),
        pytest.param("2025-12-26 | NMS_TIER_1 |  AAPL  | NITE |1000| 10", id="padded-fields"),
        pytest.param("2025-12-26|T1|AAPL|NITE|1000|10", id="tier-spelled-as-finra-label"),
    ],
)
def test_repeated_record_is_skipped_and_counted_first_kept(repeat):
    result = run(psv(FIXTURE_HEADER, GOOD, GOOD_2, repeat))

    assert col(result.raw, "source_line_number") == [2, 3]
    assert col(result.raw, "symbol") == ["AAPL", "MSFT"]
    assert result.rejects.num_rows == 0
    assert result.counts == IngestCounts(raw=3, parsed=3, inserted=2, rejected=0, skipped=1)


def test_first_occurrence_keeps_its_own_spelling_and_line():
    result = run(psv(FIXTURE_HEADER, "2025-12-26|NMS_TIER_1|aapl|nite|1000|10", GOOD, GOOD))

    assert col(result.raw, "source_line_number") == [2]
    assert result.counts.skipped == 2
    assert col(result.raw, "record_hash") == [sha32("2025-12-26|NMS_TIER_1|AAPL|NITE|1000|10")]


@pytest.mark.parametrize(
    "other",
    [
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1001|10", id="different-shares"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|1000|11", id="different-trades"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|VIRT|1000|10", id="different-mpid"),
    ],
)
def test_records_that_differ_in_any_value_are_both_inserted(other):
    result = run(psv(GOOD, other))

    assert col(result.raw, "source_line_number") == [1, 2]
    assert result.counts.skipped == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(GOOD, "2025-12-26|NMS_TIER_1|AAPL|NITE|1000|10", id="plain"),
        pytest.param(" 2025-12-26 |nms tier 1| brk.b | nite |1000|10",
                     "2025-12-26|NMS_TIER_1|BRK.B|NITE|1000|10", id="trimmed-upper-cased-canonical-tier"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|-50000|-3",
                     "2025-12-26|NMS_TIER_1|AAPL|NITE|-50000|-3", id="negative-values"),
        pytest.param("2025-12-26|NMS_TIER_1|AAPL|NITE|9223372036854775807|0",
                     "2025-12-26|NMS_TIER_1|AAPL|NITE|9223372036854775807|0", id="int64-max"),
    ],
)
def test_record_hash_is_sha256_prefix_of_canonical_record(line, message):
    result = run(psv(line))

    expected = hashlib.sha256(message.encode()).hexdigest()[:32]
    assert col(result.raw, "record_hash") == [expected]


def test_record_hash_uses_the_week_and_tier_being_processed():
    ctx = StageContext(Tier.OTC, dt.date(2025, 11, 21), "e", "b", NOW)
    result = run(psv("2025-11-21|OTCE|abcd|efgh|5|1"), ctx)

    assert col(result.raw, "record_hash") == [sha32("2025-11-21|OTC|ABCD|EFGH|5|1")]


def test_counts_add_up_on_a_mixed_file():
    data = psv(
        FIXTURE_HEADER,                              # 1
        GOOD,                                        # 2 inserted
        "",                                          # 3 blank
        "2025-12-26|NMS_TIER_1|AMD|UBSS|1.5|1",      # 4 rejected
        GOOD,                                        # 5 skipped
        GOOD_2,                                      # 6 inserted
        "2025-12-19|NMS_TIER_1|AMD|UBSS|1|1",        # 7 rejected
        "2025-12-26|NMS_TIER_1|msft|virt|500|5",     # 8 skipped
        "2025-12-26|NMS_TIER_1|NVDA|CDEL|7|1",       # 9 inserted
    )

    result = run(data)

    assert result.counts == IngestCounts(raw=7, parsed=5, inserted=3, rejected=2, skipped=2)
    counts = result.counts
    assert counts.raw == counts.parsed + counts.rejected
    assert counts.parsed == counts.inserted + counts.skipped
    assert result.raw.num_rows == counts.inserted
    assert result.rejects.num_rows == counts.rejected
    assert col(result.raw, "source_line_number") == [2, 6, 9]
    assert col(result.rejects, "line_number") == [4, 7]


# --- tier labels and FINRA format -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "label"),
    [
        pytest.param(Tier.NMS_TIER_1, "nms tier 1", id="lower-case-with-spaces"),
        pytest.param(Tier.NMS_TIER_1, "NMS Tier 1", id="title-case-with-spaces"),
        pytest.param(Tier.NMS_TIER_1, "NMS-TIER-1", id="dashes"),
        pytest.param(Tier.NMS_TIER_1, "nms_tier_1", id="lower-case-underscores"),
        pytest.param(Tier.NMS_TIER_1, "T1", id="finra-t1"),
        pytest.param(Tier.NMS_TIER_2, "t2", id="finra-t2-lower"),
        pytest.param(Tier.OTC, "OTCE", id="finra-otce"),
        pytest.param(Tier.OTC, "otc", id="otc-lower"),
    ],
)
def test_row_tier_labels_are_accepted_and_stored_canonically(tier, label):
    ctx = StageContext(tier, WEEK, "exec_test", "batch_test", NOW)

    result = run(psv(f"2025-12-26|{label}|AAPL|NITE|1000|10"), ctx)

    assert result.rejects.num_rows == 0
    assert col(result.raw, "tier") == [tier.value]


def finra_line(tier="NMS Tier 1", symbol="AAPL", name="Apple Inc. Common Stock",
               participant="Citadel Securities LLC", mpid="CDEL", shares="1000", trades="10",
               last_update="2025-12-29") -> str:
    return "|".join([tier, symbol, name, participant, mpid, shares, trades, last_update])


def test_finra_file_keeps_issue_participant_and_last_update_and_uses_processed_week():
    result = run(psv(FINRA_HEADER, finra_line(), finra_line(symbol="MSFT", name="Microsoft Corp",
                                                            participant="Virtu Americas", mpid="VIRT",
                                                            shares="500", trades="5", last_update="")))

    assert result.source_format is SourceFormat.FINRA
    assert result.rejects.num_rows == 0
    assert result.raw.select([
        "week_ending", "tier", "source_line_number", "symbol", "mpid", "total_shares", "total_trades",
        "issue_name", "market_participant_name", "source_last_update_date",
    ]).to_pylist() == [
        {"week_ending": WEEK, "tier": "NMS_TIER_1", "source_line_number": 2, "symbol": "AAPL",
         "mpid": "CDEL", "total_shares": 1000, "total_trades": 10,
         "issue_name": "Apple Inc. Common Stock", "market_participant_name": "Citadel Securities LLC",
         "source_last_update_date": dt.date(2025, 12, 29)},
        {"week_ending": WEEK, "tier": "NMS_TIER_1", "source_line_number": 3, "symbol": "MSFT",
         "mpid": "VIRT", "total_shares": 500, "total_trades": 5,
         "issue_name": "Microsoft Corp", "market_participant_name": "Virtu Americas",
         "source_last_update_date": None},
    ]
    assert col(result.raw, "record_hash")[0] == sha32("2025-12-26|NMS_TIER_1|AAPL|CDEL|1000|10")


@pytest.mark.parametrize(
    ("bad_line", "detail"),
    [
        pytest.param(finra_line(last_update="2025/12/29"),
                     "Invalid lastUpdateDate: '2025/12/29'", id="slashed-last-update"),
        pytest.param(finra_line(last_update="yesterday"),
                     "Invalid lastUpdateDate: 'yesterday'", id="text-last-update"),
        pytest.param(finra_line(last_update="2025-02-30"),
                     "Invalid lastUpdateDate: '2025-02-30'", id="impossible-last-update"),
        pytest.param(finra_line(tier="NMS Tier 2"),
                     "Tier mismatch: file has NMS_TIER_2, expected NMS_TIER_1", id="mismatched-tier"),
        pytest.param(finra_line(tier="Tier X"), "Invalid tier: 'Tier X'", id="invalid-tier"),
        pytest.param(finra_line(shares="1,000"), "Invalid total_shares: '1,000'", id="bad-shares"),
        pytest.param(GOOD, "Expected 8 pipe-delimited fields, got 6", id="fixture-row-in-finra-file"),
    ],
)
def test_finra_row_problems_are_rejected(bad_line, detail):
    result = run(psv(FINRA_HEADER, finra_line(), bad_line))

    assert col(result.raw, "source_line_number") == [2]
    assert result.rejects.select(["line_number", "reason_code", "reason_detail"]).to_pylist() == [
        {"line_number": 3, "reason_code": "PARSE_ERROR", "reason_detail": detail}
    ]


def test_fixture_rows_have_null_finra_only_columns():
    result = run(psv(FIXTURE_HEADER, GOOD, GOOD_2))

    assert col(result.raw, "issue_name") == [None, None]
    assert col(result.raw, "market_participant_name") == [None, None]
    assert col(result.raw, "source_last_update_date") == [None, None]


# --- reject rows and output shape ------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "kept"),
    [
        pytest.param("x" * 600, "x" * 500, id="ascii-600"),
        pytest.param("é" * 600, "é" * 500, id="multibyte-600-characters"),
        pytest.param("y" * 500, "y" * 500, id="exactly-500-kept-whole"),
    ],
)
def test_reject_raw_line_is_cut_at_500_characters(bad_line, kept):
    result = run(psv(GOOD, bad_line))

    assert col(result.rejects, "raw_line") == [kept]


def test_output_tables_have_the_contract_schemas_and_context_columns():
    result = run(psv(FIXTURE_HEADER, GOOD, "2025-12-26|NMS_TIER_1|AMD|UBSS|x|1"))

    assert plain(result.raw.schema) == Table.RAW.schema
    assert plain(result.rejects.schema) == Table.REJECTS.schema
    raw = result.raw.to_pylist()[0]
    assert (raw["week_ending"], raw["tier"], raw["execution_id"], raw["batch_id"], raw["ingested_at"]) == (
        WEEK, "NMS_TIER_1", "exec_test", "batch_test", NOW
    )
    reject = result.rejects.to_pylist()[0]
    assert {k: reject[k] for k in (
        "week_ending", "tier", "execution_id", "batch_id", "stage", "source_locator",
        "raw_record_hash", "created_at",
    )} == {
        "week_ending": WEEK, "tier": "NMS_TIER_1", "execution_id": "exec_test",
        "batch_id": "batch_test", "stage": "INGEST", "source_locator": "test.psv",
        "raw_record_hash": None, "created_at": NOW,
    }


def test_rows_come_out_in_line_order():
    data = psv(
        "2025-12-26|NMS_TIER_1|ZZZ|NITE|1|1",
        "2025-12-26|NMS_TIER_1|YYY|NITE|bad|1",
        "2025-12-26|NMS_TIER_1|AAA|NITE|1|1",
        "2025-12-26|NMS_TIER_1|BBB|NITE|1|bad",
        "2025-12-26|NMS_TIER_1|MMM|NITE|1|1",
        "2025-12-26|NMS_TIER_1",
    )

    result = run(data)

    assert col(result.raw, "symbol") == ["ZZZ", "AAA", "MMM"]
    assert col(result.raw, "source_line_number") == [1, 3, 5]
    assert col(result.rejects, "line_number") == [2, 4, 6]


# --- hashing helpers -------------------------------------------------------------------

@pytest.mark.parametrize("values", [
    pytest.param(["a", "", "ÄPFEL|1", "x" * 300], id="plain"),
    pytest.param(["line\nfeed", "a", "\n", "b\n"], id="values-holding-line-feeds"),
    pytest.param([], id="empty"),
])
def test_sha256_lines_matches_hashlib(values):
    lines = pa.array([v + "\n" for v in values], pa.string())
    expected = [hashlib.sha256(v.encode()).digest() for v in values]
    assert [bytes(row) for row in sha256_lines(lines)] == expected
    # a slice keeps its own values, not its buffer's first ones
    if len(values) > 2:
        assert [bytes(row) for row in sha256_lines(lines.slice(1, 2))] == expected[1:3]


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 4096])
def test_sha256_lines_is_the_same_in_batches_of_any_size(monkeypatch, batch):
    monkeypatch.setattr(ingest_module, "_HASH_BATCH", batch)
    values = [f"v{i}" for i in range(10)]
    values[5] = "holds\na line feed"  # one batch takes the slow path, the others not
    lines = pa.array([v + "\n" for v in values], pa.string())
    expected = [hashlib.sha256(v.encode()).digest() for v in values]
    assert [bytes(row) for row in sha256_lines(lines)] == expected
    assert [bytes(row) for row in sha256_lines(lines.slice(3, 6))] == expected[3:9]


def test_hex_prefix_is_lower_case_hex_of_the_first_bytes():
    digests = np.array([[0x00, 0xAB, 0xFF, 0x10], [0x7F, 0x80, 0x01, 0xFE]], dtype=np.uint8)
    assert hex_prefix(digests, 3).to_pylist() == ["00abff", "7f8001"]


def test_first_occurrence_is_none_when_every_value_is_distinct():
    values = pa.array(["a", "b", "c"])
    assert first_occurrence(values, np.array([1, 2, 3], np.uint64)) is None


def test_first_occurrence_with_equal_keys_compares_the_values():
    # equal keys but distinct values (a collision of the cheap keys): nothing is a repeat
    assert first_occurrence(pa.array(["a", "b", "c"]), np.array([7, 7, 7], np.uint64)) is None
    mask = first_occurrence(pa.array(["a", "b", "a", "c", "b"]), np.array([1, 2, 1, 3, 2], np.uint64))
    assert mask.tolist() == [True, True, False, True, False]


def test_record_hash_keys_are_the_digests_first_bytes():
    symbol, mpid = pa.array(["aapl", "MSFT"]), pa.array(["nite", "VIRT"])
    hashes, keys = record_hashes(CTX, symbol, mpid, pa.array([1000, 5]), pa.array([10, 1]))
    messages = ["2025-12-26|NMS_TIER_1|AAPL|NITE|1000|10", "2025-12-26|NMS_TIER_1|MSFT|VIRT|5|1"]
    assert hashes.to_pylist() == [sha32(m) for m in messages]
    assert keys.tolist() == [int.from_bytes(hashlib.sha256(m.encode()).digest()[:8], "little") for m in messages]


def test_first_occurrence_takes_chunked_values():
    values = pa.chunked_array([["a", "b"], ["a"]])
    assert first_occurrence(values, np.array([1, 2, 1], np.uint64)).tolist() == [True, True, False]
