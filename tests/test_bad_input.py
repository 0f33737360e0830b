"""Bad-input corpus: every case is an end-to-end `doit backfill` of a malformed source file.

To stay fast, the cases of a group are the consecutive Friday weeks of ONE backfill run
(module-scoped), with good weeks among them; each case then checks its own week in the
batch file and in the Parquet tables. For every case, either

- the week *completes*: the bad lines are rejected with a reason and their physical line
  number, and every raw line is accounted for (raw = normalized + rejected + skipped), or
- the week *fails* with one clear line while the other weeks complete,

and never is there a traceback. Cases that need runs of their own (a file that changes
between runs, an unreadable file) are separate tests at the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pyarrow.dataset as ds
import pytest

from doit_helpers import SOURCE_DIR, doit, make_project, metrics, stage_lines

TIER = "NMS_TIER_1"
FIRST_WEEK = dt.date(2025, 1, 3)
RAW_LINE_MAX = 500

FIX = "WeekEnding|Tier|Symbol|MPID|TotalShares|TotalTrades"
FINRA = ("tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
         "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


# --------------------------------------------------------------------------------------
# Building the files: text with placeholders, formatted with the case's own week
#   {W} the week being processed, {P} the Friday before, {THU} the Thursday before {W}
# --------------------------------------------------------------------------------------

def _subst(week: dt.date) -> dict[str, str]:
    return {
        "{W}": week.isoformat(),
        "{P}": (week - dt.timedelta(days=7)).isoformat(),
        "{THU}": (week - dt.timedelta(days=1)).isoformat(),
    }


def fill(text: str, week: dt.date) -> str:
    for key, value in _subst(week).items():
        text = text.replace(key, value)
    return text


def fill_bytes(data: bytes, week: dt.date) -> bytes:
    for key, value in _subst(week).items():
        data = data.replace(key.encode(), value.encode())
    return data


def row(symbol: str, mpid: str, shares: object, trades: object, week: str = "{W}", tier: str = TIER) -> str:
    return f"{week}|{tier}|{symbol}|{mpid}|{shares}|{trades}"


def frow(symbol: str, mpid: str, shares: object, trades: object, tier: str = "NMS Tier 1",
         name: str = "Some Issue Inc.", venue: str = "Some Venue LLC", updated: str = "{W}") -> str:
    return f"{tier}|{symbol}|{name}|{venue}|{mpid}|{shares}|{trades}|{updated}"


Content = Callable[[dt.date], bytes]


def lines(*items: str | bytes, eol: str = "\n", bom: bool = False, final_eol: bool = True,
          encoding: str = "utf-8") -> Content:
    """A file of these lines (str encoded with `encoding`, bytes as they are)."""
    def build(week: dt.date) -> bytes:
        parts = [fill_bytes(i, week) if isinstance(i, bytes) else fill(i, week).encode(encoding) for i in items]
        data = eol.encode(encoding).join(parts) + (eol.encode(encoding) if final_eol and parts else b"")
        return (b"\xef\xbb\xbf" if bom else b"") + data
    return build


def raw_bytes(data: bytes) -> Content:
    return lambda week: data


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Expect:
    outcome: str  # "completes" | "fails" | "clean" (either, as long as it is clean)
    counts: tuple[int, int, int, int] | None = None  # raw, normalized, rejected, skipped
    rejects: tuple[tuple[int, str, str], ...] = ()  # line_number, reason_code, detail substring
    error: str | None = None  # substring of the week's one-line error


def completes(counts: tuple[int, int, int, int], *rejects: tuple[int, str, str]) -> Expect:
    return Expect("completes", counts, tuple(rejects))


def fails(error: str) -> Expect:
    return Expect("fails", error=error)


CLEAN = Expect("clean")


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    content: Content | str  # file bytes, or "directory" / "symlink-loop"
    expect: Expect
    group: str = "main"


BOTH_HEADERS = f"'{FIX}' (fixture) or '{FINRA}' (finra)"
GOOD = [row("AAPL", "NITE", 1000, 10), row("MSFT", "VIRT", 2000, 20), row("AAPL", "VIRT", 500, 5)]
G1, G2 = row("GOOD", "NITE", 100, 1), row("GOOD", "VIRT", 200, 2)


CASES: list[Case] = [
    # ---- good weeks, so that the run completes and the corpus is compared with a baseline
    Case("good-fixture", lines(FIX, *GOOD), completes((3, 3, 0, 0))),
    Case("good-finra-no-final-newline", lines(
        FINRA, frow("AAPL", "NITE", 1000, 10, name="Apple Inc."), frow("MSFT", "VIRT", 2000, 20),
        final_eol=False), completes((2, 2, 0, 0))),

    # ---- nothing to read
    Case("empty-file", raw_bytes(b""), fails("Source file is empty")),
    Case("blank-lines-only", raw_bytes(b"\n  \r\n\t\n\n"), fails("Source file is empty")),
    Case("bom-only", raw_bytes(b"\xef\xbb\xbf"), fails("Source file is empty")),
    Case("header-only", lines(FIX), completes((0, 0, 0, 0))),
    Case("finra-header-only", lines(FINRA), completes((0, 0, 0, 0))),
    Case("header-only-bom-crlf-no-final-newline", lines(FIX, eol="\r\n", bom=True, final_eol=False),
         completes((0, 0, 0, 0))),

    # ---- not our format at all: the week fails naming both headers
    Case("unknown-header", lines("Foo|Bar", "1|2"), fails(f"expected {BOTH_HEADERS}, got 'Foo|Bar'")),
    Case("comma-delimited", lines(FIX.replace("|", ","), *(g.replace("|", ",") for g in GOOD)),
         fails(f"Unrecognised header in {SOURCE_DIR}/week_{{W}}.psv: expected {BOTH_HEADERS}")),
    Case("comma-delimited-no-header", lines(*(g.replace("|", ",") for g in GOOD)),
         fails(f"expected {BOTH_HEADERS}")),
    Case("tab-delimited", lines(FIX.replace("|", "\t"), *(g.replace("|", "\t") for g in GOOD)),
         fails(f"expected {BOTH_HEADERS}")),
    Case("binary-garbage", raw_bytes(random.Random(20250103).randbytes(8192)),
         fails(f"expected {BOTH_HEADERS}")),
    Case("png-image", raw_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8),
         fails(f"expected {BOTH_HEADERS}")),
    Case("utf16-excel-export", lines(FIX, *GOOD, eol="\r\n", encoding="utf-16"),
         fails(f"expected {BOTH_HEADERS}")),
    Case("all-nul-bytes", raw_bytes(b"\x00" * 4096), fails(f"expected {BOTH_HEADERS}")),
    Case("cr-only-line-ends", lines(FIX, *GOOD, eol="\r"), fails(f"expected {BOTH_HEADERS}")),
    Case("headerless-first-line-not-utf8", lines(
        row("AB", "NITE", 1, 1).encode().replace(b"AB", b"A\xffB"), *GOOD),
        fails(f"expected {BOTH_HEADERS}")),

    # ---- encodings and line ends that are tolerated
    Case("bom-crlf", lines(FIX, *GOOD, eol="\r\n", bom=True), completes((3, 3, 0, 0))),
    Case("bom-crlf-no-header", lines(*GOOD, eol="\r\n", bom=True), completes((3, 3, 0, 0))),
    Case("header-any-case-and-spaces", lines(" weekending | TIER | symbol|mpid|totalshares|TotalTrades ", *GOOD),
         completes((3, 3, 0, 0))),
    Case("blank-lines-and-spaces-keep-physical-line-numbers", lines(
        FIX, "", "  {W} | NMS_TIER_1 | aapl | nite | 1000 | 10  ", "   ", row("MSFT", "VIRT", "1.5", 1),
        "\t", row("MSFT", "VIRT", 7, 1) + "\r", ""),
        completes((3, 2, 1, 0), (5, "PARSE_ERROR", "Invalid total_shares: '1.5'"))),
    Case("non-utf8-byte-in-one-line", lines(
        FIX, G1, row("AB", "NITE", 1, 1).encode().replace(b"AB", b"A\xffB"), G2),
        completes((3, 2, 1, 0), (3, "PARSE_ERROR", "Line is not valid UTF-8"))),
    Case("latin1-issue-name-in-finra", lines(
        FINRA, frow("SOGN", "NITE", 100, 1, name="Soci\xe9t\xe9 G\xe9n\xe9rale").encode("latin-1"),
        frow("AAPL", "NITE", 100, 1)),
        completes((2, 1, 1, 0), (2, "PARSE_ERROR", "Line is not valid UTF-8"))),

    # ---- field counts
    Case("field-missing", lines(FIX, G1, "{W}|NMS_TIER_1|AAPL|VIRT|1000"),
         completes((2, 1, 1, 0), (3, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 5"))),
    Case("extra-field-and-trailing-pipe", lines(FIX, G1, row("A", "NITE", 1, 1) + "|x", row("B", "NITE", 1, 1) + "|"),
         completes((3, 1, 2, 0), (3, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 7"),
                   (4, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 7"))),
    Case("finra-field-missing", lines(FINRA, frow("AAPL", "NITE", 1, 1), "NMS Tier 1|MSFT|x|y|NITE|1|1"),
         completes((2, 1, 1, 0), (3, "PARSE_ERROR", "Expected 8 pipe-delimited fields, got 7"))),
    Case("only-pipes", lines(FIX, G1, "|||||"),
         completes((2, 1, 1, 0), (3, "PARSE_ERROR", "Invalid week_ending: ''"))),

    # ---- numbers
    Case("shares-and-trades-beyond-int64", lines(
        FIX, G1,
        row("A", "NITE", INT64_MAX + 1, 1), row("B", "NITE", INT64_MIN - 1, 1),
        row("C", "NITE", 1, 10**20), row("D", "NITE", "9" * 40, 1)),
        completes((5, 1, 4, 0),
                  (3, "PARSE_ERROR", f"Invalid total_shares: '{INT64_MAX + 1}'"),
                  (4, "PARSE_ERROR", f"Invalid total_shares: '{INT64_MIN - 1}'"),
                  (5, "PARSE_ERROR", f"Invalid total_trades: '{10**20}'"),
                  (6, "PARSE_ERROR", f"Invalid total_shares: '{'9' * 40}'"))),
    Case("decimal-shares", lines(FIX, G1, row("A", "NITE", "1.5", 1), row("B", "NITE", "100.0", 1)),
         completes((3, 1, 2, 0), (3, "PARSE_ERROR", "Invalid total_shares: '1.5'"),
                   (4, "PARSE_ERROR", "Invalid total_shares: '100.0'"))),
    Case("thousands-separator", lines(FIX, G1, row("A", "NITE", "1,000", 1), row("B", "NITE", "1 000", 1)),
         completes((3, 1, 2, 0), (3, "PARSE_ERROR", "Invalid total_shares: '1,000'"),
                   (4, "PARSE_ERROR", "Invalid total_shares: '1 000'"))),
    Case("exponent", lines(FIX, G1, row("A", "NITE", "1e6", 1), row("B", "NITE", 1, "2E3")),
         completes((3, 1, 2, 0), (3, "PARSE_ERROR", "Invalid total_shares: '1e6'"),
                   (4, "PARSE_ERROR", "Invalid total_trades: '2E3'"))),
    Case("empty-and-whitespace-numbers", lines(
        FIX, G1, row("A", "NITE", "", 1), row("B", "NITE", "   ", 1), row("C", "NITE", 1, ""),
        row("D", "NITE", 1, " \t ")),
        completes((5, 1, 4, 0), (3, "PARSE_ERROR", "Invalid total_shares: ''"),
                  (4, "PARSE_ERROR", "Invalid total_shares: ''"), (5, "PARSE_ERROR", "Invalid total_trades: ''"),
                  (6, "PARSE_ERROR", "Invalid total_trades: ''"))),
    Case("python-only-integer-syntax", lines(
        FIX, G1, row("A", "NITE", "1_000", 1), row("B", "NITE", "\uff11\uff12\uff13", 1),
        row("C", "NITE", "0x10", 1), row("D", "NITE", "--5", 1), row("E", "NITE", 1, "ten")),
        completes((6, 1, 5, 0), (3, "PARSE_ERROR", "Invalid total_shares: '1_000'"),
                  (4, "PARSE_ERROR", "Invalid total_shares: '\uff11\uff12\uff13'"),
                  (5, "PARSE_ERROR", "Invalid total_shares: '0x10'"),
                  (6, "PARSE_ERROR", "Invalid total_shares: '--5'"),
                  (7, "PARSE_ERROR", "Invalid total_trades: 'ten'"))),
    Case("integer-edges-accepted", lines(
        FIX, row("A", "NITE", "+100", 1), row("B", "NITE", "007", "0"), row("C", "NITE", "-0", 3),
        row("D", "NITE", 0, 0)),
        completes((4, 4, 0, 0))),
    Case("negative-values", lines(
        FIX, G1, row("A", "NITE", -50000, 10), row("B", "NITE", 100, -5), row("C", "NITE", INT64_MIN, 1)),
        completes((4, 1, 3, 0), (3, "NEGATIVE_VOLUME", "total_shares=-50000"),
                  (4, "NEGATIVE_TRADES", "total_trades=-5"),
                  (5, "NEGATIVE_VOLUME", f"total_shares={INT64_MIN}"))),

    # ---- structure
    Case("header-repeated-mid-file", lines(FIX, G1, FIX, G2),
         completes((3, 2, 1, 0), (3, "PARSE_ERROR", "Invalid week_ending: 'WeekEnding'"))),
    Case("finra-header-repeated-mid-file", lines(FINRA, frow("A", "NITE", 1, 1), FINRA, frow("B", "NITE", 1, 1)),
         completes((3, 2, 1, 0), (3, "PARSE_ERROR", "Invalid tier: 'tierDescription'"))),
    Case("one-megabyte-lines", lines(
        FIX, G1, "X" * 1_000_000, row("Y" * 1_000_000, "NITE", 1, 1), G2),
        completes((4, 2, 2, 0), (3, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 1"),
                  (4, "INVALID_SYMBOL", "symbol='YYYY"))),
    Case("nul-bytes", lines(
        FIX, G1, row("AA\x00PL", "NITE", 1, 1), "\x00\x00\x00", row("B", "NI\x00E", 1, 1),
        row("C", "NITE", "1\x0000", 1)),
        completes((5, 1, 4, 0), (3, "INVALID_SYMBOL", "symbol='AA\x00PL'"),
                  (4, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 1"),
                  (5, "INVALID_MPID", "mpid='NI\x00E'"),
                  (6, "PARSE_ERROR", "Invalid total_shares: '1\x0000'"))),
    Case("repeated-lines-and-duplicate-keys", lines(
        FIX, row("AAPL", "NITE", 100, 1), row("AAPL", "NITE", 100, 1), row(" aapl ", "nite", 100, 1),
        row("AAPL", "NITE", 200, 2), row("MSFT", "NITE", 1, 1)),
        completes((5, 2, 1, 2), (5, "DUPLICATE_KEY", "already accepted at line 2"))),
    Case("invalid-symbols-and-mpids", lines(
        FIX, G1, row("123", "NITE", 1, 1), row("", "NITE", 1, 1), row("TOOLONGSYMB", "NITE", 1, 1),
        row('"AAPL"', "NITE", 1, 1), row("\u00c4PPL", "NITE", 1, 1), row("A", "NI", 1, 1),
        row("A", "NITE1", 1, 1), row("A", "", 1, 1)),
        completes((9, 1, 8, 0), (3, "INVALID_SYMBOL", "symbol='123'"), (4, "INVALID_SYMBOL", "symbol=''"),
                  (5, "INVALID_SYMBOL", "symbol='TOOLONGSYMB'"), (6, "INVALID_SYMBOL", "symbol='\"AAPL\"'"),
                  (7, "INVALID_SYMBOL", "symbol='\u00c4PPL'"), (8, "INVALID_MPID", "mpid='NI'"),
                  (9, "INVALID_MPID", "mpid='NITE1'"), (10, "INVALID_MPID", "mpid=''"))),

    # ---- rows of another week or tier
    Case("rows-of-another-week", lines(FIX, G1, row("A", "NITE", 1, 1, week="{P}")),
         completes((2, 1, 1, 0), (3, "PARSE_ERROR", "Week mismatch: file has {P}, expected {W}"))),
    Case("whole-file-of-the-previous-week", lines(FIX, *(g.replace("{W}", "{P}") for g in GOOD)),
         completes((3, 0, 3, 0), *((n, "PARSE_ERROR", "Week mismatch: file has {P}, expected {W}")
                                   for n in (2, 3, 4)))),
    Case("headerless-file-of-the-previous-week", lines(*(g.replace("{W}", "{P}") for g in GOOD)),
         completes((3, 0, 3, 0), *((n, "PARSE_ERROR", "Week mismatch: file has {P}, expected {W}")
                                   for n in (1, 2, 3)))),
    Case("bad-week-values", lines(
        FIX, G1, row("A", "NITE", 1, 1, week="{THU}"), row("B", "NITE", 1, 1, week="2025-02-30"),
        row("C", "NITE", 1, 1, week="{W}T00:00"), row("D", "NITE", 1, 1, week="01/03/2025")),
        completes((5, 1, 4, 0), (3, "PARSE_ERROR", "week_ending must be a Friday, got {THU} (Thursday)"),
                  (4, "PARSE_ERROR", "Invalid week_ending: '2025-02-30'"),
                  (5, "PARSE_ERROR", "Invalid week_ending: '{W}T00:00'"),
                  (6, "PARSE_ERROR", "Invalid week_ending: '01/03/2025'"))),
    Case("rows-of-another-tier", lines(
        FIX, G1, row("A", "NITE", 1, 1, tier="NMS_TIER_2"), row("B", "NITE", 1, 1, tier="OTCE"),
        row("C", "NITE", 1, 1, tier="NMS_TIER_9"), row("D", "NITE", 1, 1, tier=""),
        row("E", "NITE", 1, 1, tier="t1"), row("F", "NITE", 1, 1, tier="nms-tier-1"),
        row("G", "NITE", 1, 1, tier="NMS Tier 1")),
        completes((8, 4, 4, 0), (3, "PARSE_ERROR", "Tier mismatch: file has NMS_TIER_2, expected NMS_TIER_1"),
                  (4, "PARSE_ERROR", "Tier mismatch: file has OTC, expected NMS_TIER_1"),
                  (5, "PARSE_ERROR", "Invalid tier: 'NMS_TIER_9'"), (6, "PARSE_ERROR", "Invalid tier: ''"))),
    Case("finra-rows-of-another-tier", lines(
        FINRA, frow("A", "NITE", 1, 1), frow("B", "NITE", 1, 1, tier="NMS Tier 2"),
        frow("C", "NITE", 1, 1, tier="OTCE"), frow("D", "NITE", 1, 1, tier="T1")),
        completes((4, 2, 2, 0), (3, "PARSE_ERROR", "Tier mismatch: file has NMS_TIER_2, expected NMS_TIER_1"),
                  (4, "PARSE_ERROR", "Tier mismatch: file has OTC, expected NMS_TIER_1"))),
    Case("finra-bad-last-update-date", lines(
        FINRA, frow("A", "NITE", 1, 1), frow("B", "NITE", 1, 1, updated="2025-13-01"),
        frow("C", "NITE", 1, 1, updated="01/10/2025"), frow("D", "NITE", 1, 1, updated="2025-02-30"),
        frow("E", "NITE", 1, 1, updated="yesterday"), frow("F", "NITE", 1, 1, updated="")),
        completes((6, 2, 4, 0), (3, "PARSE_ERROR", "Invalid lastUpdateDate: '2025-13-01'"),
                  (4, "PARSE_ERROR", "Invalid lastUpdateDate: '01/10/2025'"),
                  (5, "PARSE_ERROR", "Invalid lastUpdateDate: '2025-02-30'"),
                  (6, "PARSE_ERROR", "Invalid lastUpdateDate: 'yesterday'"))),
    Case("finra-bad-numbers", lines(
        FINRA, frow("A", "NITE", 1, 1), frow("B", "NITE", "1.5", 1), frow("C", "NITE", 1, "1,000"),
        frow("D", "NITE", -7, 1)),
        completes((4, 1, 3, 0), (3, "PARSE_ERROR", "Invalid total_shares: '1.5'"),
                  (4, "PARSE_ERROR", "Invalid total_trades: '1,000'"),
                  (5, "NEGATIVE_VOLUME", "total_shares=-7"))),

    Case("finra-rows-under-fixture-header", lines(FIX, G1, frow("A", "NITE", 1, 1)),
         completes((2, 1, 1, 0), (3, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 8"))),
    Case("finra-without-header", lines(frow("A", "NITE", 1, 1), frow("B", "NITE", 1, 1)),
         fails(f"expected {BOTH_HEADERS}")),
    Case("finra-pipe-in-issue-name", lines(
        FINRA, frow("A", "NITE", 1, 1), frow("B", "NITE", 1, 1, name="Foo | Bar Holdings")),
        completes((2, 1, 1, 0), (3, "PARSE_ERROR", "Expected 8 pipe-delimited fields, got 9"))),
    Case("unicode-line-separators-do-not-split-lines", lines(
        FIX, G1, row("A", "NITE", 1, 1) + "\u2028" + row("B", "NITE", 1, 1),
        row("C", "NITE", 1, 1) + "\x85" + row("D", "NITE", 1, 1), row("E\x0cF", "NITE", 1, 1), G2),
        completes((5, 2, 3, 0), (3, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 11"),
                  (4, "PARSE_ERROR", "Expected 6 pipe-delimited fields, got 11"),
                  (5, "INVALID_SYMBOL", "symbol='E\x0cF'"))),

    # ---- the source path is not a readable file
    Case("directory-at-source-path", "directory", fails("Source path is a directory, not a file: {SRC}")),
    # today "Source file not found: <path>" (is_file() and exists() are both False on a loop);
    # any one line naming the path is accepted
    Case("symlink-loop-at-source-path", "symlink-loop", fails("{SRC}")),

    # ---- a good last week, so that rolling and the snapshot run on a clean week
    Case("good-last-week", lines(FIX, *GOOD), completes((3, 3, 0, 0))),
]

# Arithmetic limits: cases like these once crashed a stage with an uncaught exception, and a
# crash stops doit and takes every other week of its run down with it; they get a run of their
# own so that the rest of the corpus still reports.
CASES += [
    Case("shares-at-int64-max", lines(FIX, row("A", "NITE", INT64_MAX, 10**6)), completes((1, 1, 0, 0)),
         group="overflow"),
    Case("week-volume-overflows-int64", lines(
        FIX, row("A", "NITE", 6 * 10**18, 10**6), row("B", "NITE", 6 * 10**18, 10**6)),
        fails("total_shares of the week add up beyond the int64 range"), group="overflow"),
    Case("week-trades-overflow-int64", lines(
        FIX, row("A", "NITE", 10**6, 6 * 10**18), row("B", "NITE", 10**6, 6 * 10**18)),
        fails("total_trades of the week add up beyond the int64 range"), group="overflow"),
    # avg_trade_size (decimal128(18,2)) cannot hold 1e17: rejecting the row or failing the week
    # are both fine, but a failure must say what did not fit
    Case("avg-trade-size-beyond-decimal", lines(FIX, G1, row("A", "NITE", 10**17, 1)),
         Expect("clean", error="avg_trade_size"), group="overflow"),
    Case("good-overflow-group", lines(FIX, *GOOD), completes((3, 3, 0, 0)), group="overflow"),
]


def _weeks(group: str) -> list[tuple[Case, dt.date]]:
    cases = [c for c in CASES if c.group == group]
    return [(c, FIRST_WEEK + dt.timedelta(days=7 * i)) for i, c in enumerate(cases)]


WEEK_OF = {c.id: week for group in {c.group for c in CASES} for c, week in _weeks(group)}
assert len(WEEK_OF) == len(CASES), "case ids must be unique"


def source_locator(week: dt.date) -> str:
    return f"{SOURCE_DIR}/week_{week.isoformat()}.psv"


def expand(text: str, week: dt.date) -> str:
    return fill(text, week).replace("{SRC}", source_locator(week))


# --------------------------------------------------------------------------------------
# Running a group's backfill once
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    root: Path
    result: subprocess.CompletedProcess
    batch: dict | None
    tables: dict[str, list[dict]]

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    def week_outcome(self, week: dt.date) -> dict:
        assert self.batch is not None, f"no batch file; doit said:\n{self.output[-5000:]}"
        (outcome,) = [o for o in self.batch["week_outcomes"] if o["week_ending"] == week.isoformat()]
        return outcome

    def rows(self, table: str, week: dt.date) -> list[dict]:
        return [r for r in self.tables.get(table, []) if r["week_ending"] == week]


def write_case(sources: Path, case: Case, week: dt.date) -> None:
    path = sources / f"week_{week.isoformat()}.psv"
    if case.content == "directory":
        path.mkdir()
        (path / "week.psv").write_text(FIX + "\n")
    elif case.content == "symlink-loop":
        os.symlink(path.name, path)  # points at itself
    else:
        path.write_bytes(case.content(week))


def backfill(root: Path, start: dt.date, end: dt.date, *extra: str) -> subprocess.CompletedProcess:
    return doit(root, "backfill", f"tier={TIER}", f"start_week={start.isoformat()}",
                f"end_week={end.isoformat()}", f"source_dir={SOURCE_DIR}", "skip_report=true", *extra)


def read_tables(build: Path) -> dict[str, list[dict]]:
    tables = {}
    for name in ("otc_raw", "otc_rejects", "otc_venue_volume", "otc_normalization_map"):
        if (build / name).exists():
            tables[name] = ds.dataset(build / name).to_table().to_pylist()
    return tables


def load_batch(root: Path, stdout: str) -> dict | None:
    try:
        batch_id = metrics(stdout)["batch_id"]
    except (ValueError, KeyError):
        return None
    path = root / "build" / "batches" / f"{batch_id}.json"
    return json.loads(path.read_text()) if path.exists() else None


@lru_cache(maxsize=None)
def _run_group(group: str, base: Path) -> Run:
    root = make_project(base / group, [])
    sources = root / SOURCE_DIR
    weeks = _weeks(group)
    for case, week in weeks:
        write_case(sources, case, week)
    result = backfill(root, weeks[0][1], weeks[-1][1])
    return Run(root, result, load_batch(root, result.stdout), read_tables(root / "build"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Callable[[str], Run]:
    base = tmp_path_factory.mktemp("bad_inputs")
    yield lambda group: _run_group(group, base)
    _run_group.cache_clear()


# --------------------------------------------------------------------------------------
# Per case
# --------------------------------------------------------------------------------------

def _assert_completes(run: Run, case: Case, week: dt.date, outcome: dict, expect: Expect | None) -> None:
    counts = outcome["counts"]
    assert outcome["stage"] == "AGGREGATED", f"week did not complete: {outcome.get('error')}"
    assert not outcome.get("error")
    assert counts["raw_lines"] == counts["normalized"] + counts["rejected"] + counts["skipped"], counts
    rejects = sorted(run.rows("otc_rejects", week), key=lambda r: (r["line_number"], r["stage"]))
    assert len(rejects) == counts["rejected"]
    assert len(run.rows("otc_venue_volume", week)) == counts["normalized"]
    assert len(run.rows("otc_raw", week)) == counts["ingested"]
    assert counts["ingested"] == counts["raw_lines"] - counts["skipped"] - sum(
        r["stage"] == "INGEST" for r in rejects)
    for r in rejects:
        assert r["source_locator"] == source_locator(week)
        assert len(r["raw_line"]) <= RAW_LINE_MAX
        assert r["stage"] == ("INGEST" if r["reason_code"] == "PARSE_ERROR" else "NORMALIZE")
        assert r["reason_detail"]
    if expect is None:
        return
    raw, normalized, rejected, skipped = expect.counts
    assert (counts["raw_lines"], counts["normalized"], counts["rejected"], counts["skipped"]) == (
        raw, normalized, rejected, skipped)
    expected = sorted((n, code, expand(detail, week)) for n, code, detail in expect.rejects)
    assert [(r["line_number"], r["reason_code"]) for r in rejects] == [(n, c) for n, c, _ in expected]
    for r, (n, code, detail) in zip(rejects, expected):
        assert detail in r["reason_detail"], (n, code, r["reason_detail"][:300])


def _assert_fails(run: Run, case: Case, week: dt.date, outcome: dict, expect: Expect | None) -> None:
    error = outcome.get("error")
    assert error, f"week should fail but reached {outcome['stage']} with {outcome.get('counts')}"
    assert outcome["stage"] != "AGGREGATED"
    assert "\n" not in error and "Traceback" not in error and len(error) < 2000, error
    assert f"    - {week.isoformat()}: {error}" in run.result.stdout
    if outcome["stage"] == "PENDING":
        assert run.rows("otc_raw", week) == [] and run.rows("otc_rejects", week) == []
    if expect is not None:
        assert expand(expect.error, week) in error


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_case(runs, case: Case):
    run = runs(case.group)
    week = WEEK_OF[case.id]
    outcome = run.week_outcome(week)
    expect = case.expect
    if expect.outcome == "completes":
        _assert_completes(run, case, week, outcome, expect)
    elif expect.outcome == "fails":
        _assert_fails(run, case, week, outcome, expect)
    elif outcome["stage"] == "AGGREGATED":  # clean: either, checked for consistency only
        _assert_completes(run, case, week, outcome, None)
    else:
        _assert_fails(run, case, week, outcome, expect if expect.error else None)


# --------------------------------------------------------------------------------------
# Per run
# --------------------------------------------------------------------------------------

GROUPS = sorted({c.group for c in CASES})


@pytest.mark.parametrize("group", GROUPS)
def test_run_completes_without_traceback(runs, group: str):
    run = runs(group)
    assert "Traceback" not in run.output, run.output[-5000:]
    assert run.result.returncode == 0, run.output[-5000:]
    found = metrics(run.result.stdout)
    assert found["status"] == "COMPLETED"
    outcomes = run.batch["week_outcomes"]
    assert len(outcomes) == len(_weeks(group))
    completed = [o for o in outcomes if o["stage"] == "AGGREGATED"]
    assert int(found["weeks_processed"]) == len(completed)
    for o in completed:
        c = o["counts"]
        assert c["raw_lines"] == c["normalized"] + c["rejected"] + c["skipped"], o
    # every failing week is one line in the summary and in the batch file
    errors = [f"{o['week_ending']}: {o['error']}" for o in outcomes if o.get("error")]
    assert [e for e in run.batch["metrics"]["errors"] if e[:4].isdigit()] == errors
    if group == "overflow":
        # a week at the int64 limit cannot be added up over six weeks exactly: rolling says so
        assert not run.batch["rolling"]["completed"]
        assert "too large to add up over 6 weeks" in run.batch["rolling"]["error"]
        assert run.batch["snapshot"]["completed"]
    else:
        assert run.batch["rolling"]["completed"] and run.batch["snapshot"]["completed"]


@pytest.mark.parametrize("group", GROUPS)
def test_summary_totals_account_for_every_raw_line(runs, group: str):
    """README: total_raw_lines = total_normalized + total_rejected + total_skipped."""
    found = metrics(runs(group).result.stdout)
    assert int(found["total_raw_lines"]) == int(found["total_normalized"]) + int(
        found["total_rejected"]) + int(found["total_skipped"]), {
        k: found[k] for k in ("total_raw_lines", "total_normalized", "total_rejected", "total_skipped")}


@pytest.mark.parametrize("group", GROUPS)
def test_manifest_agrees_with_the_batch(runs, group: str):
    run = runs(group)
    manifest = {e["week_ending"]: e for e in json.loads((run.root / "build/manifest.json").read_text())}
    for o in run.batch["week_outcomes"]:
        entry = manifest.get(o["week_ending"])
        if entry is None:  # no source file at all: nothing ran
            assert o["stage"] == "PENDING" and o.get("error")
            continue
        c = o["counts"]
        assert (entry["row_count_raw"], entry["row_count_inserted"], entry["row_count_normalized"],
                entry["row_count_rejected"]) == (c["raw_lines"], c["ingested"], c["normalized"], c["rejected"])
        assert entry["stage"] in ({"AGGREGATED", "ROLLING", "SNAPSHOT"} if o["stage"] == "AGGREGATED"
                                  else {"PENDING", "INGESTED", "NORMALIZED"})


def test_stored_text_is_clean(runs):
    """No line end or BOM leaks into stored fields."""
    run = runs("main")
    for r in run.tables["otc_raw"]:
        for name in ("symbol", "mpid", "issue_name", "market_participant_name"):
            value = r[name] or ""
            assert "\r" not in value and "\ufeff" not in value and value == value.strip(), (name, value)
    for r in run.tables["otc_rejects"]:
        assert not r["raw_line"].endswith("\r") and not r["raw_line"].startswith("\ufeff")


def test_one_megabyte_line_is_cut_to_500_chars(runs):
    run = runs("main")
    week = WEEK_OF["one-megabyte-lines"]
    by_line = {r["line_number"]: r for r in run.rows("otc_rejects", week)}
    assert by_line[3]["raw_line"] == "X" * RAW_LINE_MAX
    assert len(by_line[4]["raw_line"]) == RAW_LINE_MAX


def test_reject_details_are_bounded(runs):
    """raw_line is cut to 500 chars; a detail quoting the bad value must not carry the whole 1 MB either."""
    run = runs("main")
    week = WEEK_OF["one-megabyte-lines"]
    sizes = {r["line_number"]: len(r["reason_detail"]) for r in run.rows("otc_rejects", week)}
    assert max(sizes.values()) <= 2 * RAW_LINE_MAX, sizes


def test_second_identical_run_changes_nothing(runs):
    """Failed weeks are not retried forever, and the counts describe the data in place."""
    run = runs("main")
    weeks = _weeks("main")
    again = backfill(run.root, weeks[0][1], weeks[-1][1])
    assert "Traceback" not in again.stdout + again.stderr
    assert again.returncode == 0
    assert stage_lines(again.stdout) == []
    batch = load_batch(run.root, again.stdout)

    def comparable(outcomes):
        return [{k: v for k, v in o.items() if k not in ("ran", "up_to_date")} for o in outcomes]

    assert comparable(batch["week_outcomes"]) == comparable(run.batch["week_outcomes"])
    assert batch["metrics"]["errors"] == run.batch["metrics"]["errors"]


# --------------------------------------------------------------------------------------
# Cases with runs of their own
# --------------------------------------------------------------------------------------

def _project(tmp_path: Path, files: dict[dt.date, bytes]) -> Path:
    root = make_project(tmp_path / "project", [])
    for week, data in files.items():
        (root / SOURCE_DIR / f"week_{week.isoformat()}.psv").write_bytes(data)
    return root


def _outcomes(root: Path, result: subprocess.CompletedProcess) -> dict[str, dict]:
    batch = load_batch(root, result.stdout)
    assert batch is not None, result.stdout + result.stderr
    return {o["week_ending"]: o for o in batch["week_outcomes"]}


def _counts(outcome: dict) -> tuple[int, int, int, int]:
    c = outcome["counts"]
    return c["raw_lines"], c["normalized"], c["rejected"], c["skipped"]


def test_file_that_changes_between_runs(tmp_path: Path):
    w1, w2, w3 = (FIRST_WEEK + dt.timedelta(days=7 * i) for i in range(3))
    good = {w: lines(FIX, *GOOD)(w) for w in (w1, w2, w3)}
    root = _project(tmp_path, good)
    first = backfill(root, w1, w3)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _counts(_outcomes(root, first)[w2.isoformat()]) == (3, 3, 0, 0)

    def week_and_window(week: dt.date) -> list[str]:
        return sorted([f"{s}:{TIER}:{week.isoformat()}" for s in ("ingest", "normalize", "aggregate")]
                      + [f"rolling:{TIER}:{w3.isoformat()}", f"snapshot:{TIER}:{w3.isoformat()}"])

    source = root / SOURCE_DIR / f"week_{w2.isoformat()}.psv"
    # 1. new content: one row changed, a bad line and a repeated line added
    source.write_bytes(lines(FIX, GOOD[0], row("MSFT", "VIRT", 2500, 25), GOOD[2],
                             row("BAD", "NITE", "1.5", 1), GOOD[0])(w2))
    second = backfill(root, w1, w3)
    assert "Traceback" not in second.stdout + second.stderr
    assert sorted(stage_lines(second.stdout)) == week_and_window(w2)
    outcomes = _outcomes(root, second)
    assert _counts(outcomes[w2.isoformat()]) == (5, 3, 1, 1)
    assert outcomes[w1.isoformat()]["ran"] == [] and outcomes[w3.isoformat()]["ran"] == []
    tables = read_tables(root / "build")
    msft = [r for r in tables["otc_venue_volume"] if r["week_ending"] == w2 and r["symbol"] == "MSFT"]
    assert [r["total_shares"] for r in msft] == [2500]
    assert [(r["line_number"], r["reason_detail"]) for r in tables["otc_rejects"] if r["week_ending"] == w2] == [
        (5, "Invalid total_shares: '1.5'")]

    # 2. the file becomes unreadable as a whole: that week fails, its old rows are gone
    source.write_bytes(b"Foo|Bar\n1|2\n")
    third = backfill(root, w1, w3)
    assert third.returncode == 0 and "Traceback" not in third.stdout + third.stderr
    assert sorted(stage_lines(third.stdout)) == week_and_window(w2)
    outcomes = _outcomes(root, third)
    assert outcomes[w2.isoformat()]["stage"] == "PENDING"
    assert "Unrecognised header" in outcomes[w2.isoformat()]["error"]
    assert metrics(third.stdout)["weeks_processed"] == "2"
    tables = read_tables(root / "build")
    for name in ("otc_raw", "otc_venue_volume", "otc_rejects"):
        assert [r for r in tables[name] if r["week_ending"] == w2] == [], name
    manifest = {e["week_ending"]: e for e in json.loads((root / "build/manifest.json").read_text())}
    assert manifest[w2.isoformat()]["stage"] == "PENDING"
    assert manifest[w2.isoformat()]["row_count_raw"] == 0

    # 3. back to the original bytes: the week completes again with its first counts
    source.write_bytes(good[w2])
    fourth = backfill(root, w1, w3)
    assert sorted(stage_lines(fourth.stdout)) == week_and_window(w2)
    outcomes = _outcomes(root, fourth)
    assert _counts(outcomes[w2.isoformat()]) == (3, 3, 0, 0)
    assert metrics(fourth.stdout)["weeks_processed"] == "3"


def test_unreadable_file_fails_its_week_only(tmp_path: Path):
    """Root reads any mode-000 file; /proc/self/mem is a regular file no one can read() from offset 0 (EIO)."""
    if not Path("/proc/self/mem").is_file():
        pytest.skip("needs Linux /proc")
    w1, w2, w3 = (FIRST_WEEK + dt.timedelta(days=7 * i) for i in range(3))
    root = _project(tmp_path, {w1: lines(FIX, *GOOD)(w1), w3: lines(FIX, *GOOD)(w3)})
    os.symlink("/proc/self/mem", root / SOURCE_DIR / f"week_{w2.isoformat()}.psv")
    result = backfill(root, w1, w3)
    assert "Traceback" not in result.stdout + result.stderr, (result.stdout + result.stderr)[-5000:]
    assert result.returncode == 0
    outcomes = _outcomes(root, result)
    error = outcomes[w2.isoformat()].get("error") or ""
    assert outcomes[w2.isoformat()]["stage"] == "PENDING"
    assert f"{SOURCE_DIR}/week_{w2.isoformat()}.psv" in error and "\n" not in error
    assert metrics(result.stdout)["weeks_processed"] == "2"
