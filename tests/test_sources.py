"""Splitting source files: the one-pass reader and the line-by-line path must agree on every file."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from otc.sources import SourceFormat, split_fields, split_lines, split_lines_by_text
from tests.test_bad_input import CASES

FIX = "WeekEnding|Tier|Symbol|MPID|TotalShares|TotalTrades"
ROW = "2025-12-26|NMS_TIER_1|AAPL|NITE|1000|10"

# files the one-pass reader takes (uniform field counts, no CR, no blank line, valid UTF-8)
UNIFORM = {
    "header and rows": f"{FIX}\n{ROW}\n{ROW}\n".encode(),
    "no final line end": f"{FIX}\n{ROW}".encode(),
    "headerless": f"{ROW}\n{ROW}\n".encode(),
    "bom": b"\xef\xbb\xbf" + f"{FIX}\n{ROW}\n".encode(),
    "spaces around fields": f"{FIX}\n 2025-12-26 | NMS_TIER_1 |\taapl | nite |1000 | 10 \n".encode(),
    "quotes and escapes are data": f'{FIX}\n2025-12-26|NMS_TIER_1|"AA|\\NITE|1"0|#10\n'.encode(),
    "empty fields": f"{FIX}\n|||||\n".encode(),
    "non-ascii": f"{FIX}\n2025-12-26|NMS_TIER_1|ÄPFEL|NÏTE|1|1\n".encode(),
    "nul byte": f"{FIX}\n".encode() + b"2025-12-26|NMS_TIER_1|A\x00B|NITE|1|1\n",
    "unicode space line": f"{FIX}\n\u00a0|\u00a0|\u00a0|\u00a0|\u00a0|\u00a0\n".encode(),
    "only the header": f"{FIX}\n".encode(),
}

# files it must hand to the line-by-line path, each for a different reason
OTHER = {
    "blank line": f"{FIX}\n\n{ROW}\n".encode(),
    "trailing blank lines": f"{FIX}\n{ROW}\n\n\n".encode(),
    "spaces-only line": f"{FIX}\n   \n{ROW}\n".encode(),
    "leading blank line": f"\n{FIX}\n{ROW}\n".encode(),
    "crlf": f"{FIX}\r\n{ROW}\r\n".encode(),
    "lone cr inside a line": f"{FIX}\n2025-12-26|NMS_TIER_1|AA\rPL|NITE|1|1\n".encode(),
    "ragged": f"{FIX}\n{ROW}|extra\n{ROW}\n".encode(),
    "short line": f"{FIX}\n2025-12-26|NMS_TIER_1\n".encode(),
    "bad utf-8": f"{FIX}\n".encode() + b"2025-12-26|NMS_TIER_1|\xff\xfe|NITE|1|1\n",
    "two boms": b"\xef\xbb\xbf\xef\xbb\xbf" + f"{FIX}\n{ROW}\n".encode(),
    "one field a line": b"hello\nworld\n",
    "empty": b"",
    "line longer than a read block": f"{FIX}\n2025-12-26|NMS_TIER_1|{'A' * (3 << 20)}|NITE|1|1\n".encode(),
}


def assert_same_split(data: bytes) -> None:
    fast, reference = split_lines(data), split_lines_by_text(data)
    assert fast.line_number.equals(reference.line_number)
    assert fast.decodable.equals(reference.decodable)
    assert fast.texts().cast(pa.string()).equals(reference.texts())
    for fmt in SourceFormat:
        fast_count, fast_fields = split_fields(fast, fmt)
        count, fields = split_fields(reference, fmt)
        assert fast_count.equals(count), fmt
        assert fast_fields.keys() == fields.keys()
        for name in fields:
            assert fast_fields[name].equals(fields[name]), (fmt, name)


@pytest.mark.parametrize("name", sorted(UNIFORM))
def test_uniform_files_are_read_in_one_pass_and_agree(name):
    data = UNIFORM[name]
    assert split_lines(data).pieces is not None
    assert_same_split(data)


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_files_take_the_line_by_line_path(name):
    data = OTHER[name]
    assert split_lines(data).pieces is None
    assert_same_split(data)


@pytest.mark.parametrize("case", [c for c in CASES if callable(c.content)], ids=lambda c: c.id)
def test_bad_input_corpus_splits_alike(case):
    assert_same_split(case.content(dt.date(2025, 1, 3)))


def test_slices_of_a_one_pass_read_keep_their_lines():
    data = (FIX + "\n" + "\n".join(f"2025-12-26|NMS_TIER_1|S{i}|NITE|{i}|1" for i in range(10)) + "\n").encode()
    lines = split_lines(data)
    part = lines.slice(3, 4)
    assert part.line_number.to_pylist() == [4, 5, 6, 7]
    assert part.texts().to_pylist() == [f"2025-12-26|NMS_TIER_1|S{i}|NITE|{i}|1" for i in range(2, 6)]
    _, fields = split_fields(part, SourceFormat.FIXTURE)
    assert fields["symbol"].to_pylist() == ["S2", "S3", "S4", "S5"]
