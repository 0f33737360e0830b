"""Splitting source files: the one-pass reader and the line-by-line path must agree on every file."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from otc.sources import WHITE_SPACE, SourceFormat, split_fields, split_lines, split_lines_by_text
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


# pieces of lines that have tripped up CSV readers or text splitting: delimiters, spaces of
# every kind, control bytes, quotes, a BOM mid-file, and invalid or unusual UTF-8
TRICKY = [b"|", b"a", b"B", b"1", b" ", b"\t", b"\x00", b"\x0b", b"\x0c", b"\r", b"\xef\xbb\xbf",
          b"\xc3\xa9", b"\xff", b"\xc3", b"\xe2\x80\x83", b"\xc2\xa0", b'"', b"'", b"\\", b"#",
          b"\x1c", b"\xc2\x85", b"\xe2\x80\xa8", b"\xed\xa0\x80", b"\xc0\x80"]


def random_file(rng: random.Random) -> bytes:
    """Half the time lines of k fields (so the one-pass reader is tried), else loose bytes."""
    if rng.random() < 0.5:
        k = rng.randint(2, 9)
        lines = [b"|".join(b"".join(rng.choice(TRICKY) if rng.random() < 0.3 else rng.choice([b"AB", b"12", b""])
                                    for _ in range(rng.randint(0, 3))) for _ in range(k))
                 for _ in range(rng.randint(1, 5))]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        return (b"\xef\xbb\xbf" if rng.random() < 0.3 else b"") + data
    return b"".join(rng.choice([*TRICKY, b"\n", b"\n", b"|"]) for _ in range(rng.randint(0, 14)))


def test_random_files_split_alike_on_both_paths():
    rng = random.Random(20261126)
    one_pass = 0
    for _ in range(600):
        data = random_file(rng)
        one_pass += split_lines(data).pieces is not None
        assert_same_split(data)
    assert one_pass > 60  # the one-pass reader took a fair share of them


def test_white_space_is_what_python_and_arrow_trim():
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    python = {c for c in code_points if chr(c).isspace()}
    trimmed = pc.utf8_length(pc.utf8_trim_whitespace(pa.array([chr(c) for c in code_points])))
    arrow = {c for c, length in zip(code_points, trimmed.to_pylist()) if length == 0}
    assert set(map(ord, WHITE_SPACE)) == python == arrow


@pytest.mark.parametrize("space", [c for c in WHITE_SPACE if c != "\n"], ids=lambda c: f"U+{ord(c):04X}")
def test_a_line_of_white_space_alone_is_blank(space):
    for data in (f"{FIX}\n{space * 2}\n{ROW}\n", f"{space}\n{FIX}\n{ROW}\n"):
        lines = split_lines(data.encode())
        texts = lines.texts().cast(pa.string()).to_pylist()
        assert [t.rstrip("\r") for t in texts] == [FIX, ROW]
        assert lines.line_number.to_pylist() == ([1, 3] if data.startswith(FIX) else [2, 3])
        assert_same_split(data.encode())
