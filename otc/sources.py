"""Source files: bytes to numbered lines to text fields, detecting the format from the header.

Everything stays text here, so that a bad value becomes a reject with its line number
rather than an exception; typed parsing is the ingest stage's job.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from otc.errors import SourceError

_BOM = b"\xef\xbb\xbf"


class SourceFormat(str, enum.Enum):
    """A source layout: its header and the canonical name of each of its fields."""

    FIXTURE = "fixture"
    FINRA = "finra"

    @property
    def header(self) -> tuple[str, ...]:
        return _HEADERS[self]

    @property
    def fields(self) -> tuple[str, ...]:
        return _FIELDS[self]


_HEADERS = {
    SourceFormat.FIXTURE: ("WeekEnding", "Tier", "Symbol", "MPID", "TotalShares", "TotalTrades"),
    SourceFormat.FINRA: (
        "tierDescription", "issueSymbolIdentifier", "issueName", "marketParticipantName",
        "MPID", "totalWeeklyShareQuantity", "totalWeeklyTradeCount", "lastUpdateDate",
    ),
}
_FIELDS = {
    SourceFormat.FIXTURE: ("week_ending", "tier", "symbol", "mpid", "total_shares", "total_trades"),
    SourceFormat.FINRA: (
        "tier", "symbol", "issue_name", "market_participant_name", "mpid",
        "total_shares", "total_trades", "source_last_update_date",
    ),
}
_DATA_FIRST_FIELD = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """A source file's bytes and identity, as recorded in the manifest."""

    locator: str
    data: bytes
    sha256: str
    size: int


def source_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a source file, or None when it can (checked before planning,
    so that no task depends on a file doit itself could not hash)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"Source file not found: {path}"
    except OSError as exc:
        return f"Cannot read source file {path}: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return f"Source path is a directory, not a file: {path}"
    if not stat.S_ISREG(mode):
        return f"Source path is not a regular file: {path}"
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"Cannot read source file {path}: {exc.strerror or exc}"
    return None


def read_source(path: Path) -> SourceFile:
    """Read a whole source file; OS errors become one-line SourceErrors."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise SourceError(f"Source path is a directory, not a file: {path}") from None
    except FileNotFoundError:
        raise SourceError(f"Source file not found: {path}") from None
    except OSError as exc:
        raise SourceError(f"Cannot read source file {path}: {exc.strerror or exc}") from None
    return SourceFile(str(path), data, hashlib.sha256(data).hexdigest(), len(data))


@dataclasses.dataclass(frozen=True, kw_only=True)
class SourceLines:
    """The non-blank lines of a file, in order, with their 1-based physical line numbers.

    A file whose lines all split into the same number of fields arrives already split
    (`pieces`, untrimmed); its `text` is then rebuilt from them only where it is needed.
    """

    line_number: pa.Array  # int64
    decodable: pa.Array  # bool
    text: pa.Array | None = None  # string, line end removed; undecodable bytes shown as U+FFFD
    pieces: tuple[pa.ChunkedArray, ...] | None = None  # string, each line's fields in order

    def __len__(self) -> int:
        return len(self.line_number)

    def slice(self, offset: int, length: int | None = None) -> "SourceLines":
        return SourceLines(
            line_number=self.line_number.slice(offset, length),
            decodable=self.decodable.slice(offset, length),
            text=None if self.text is None else self.text.slice(offset, length),
            pieces=None if self.pieces is None else tuple(p.slice(offset, length) for p in self.pieces),
        )

    def texts(self) -> pa.Array:
        """Each line's text (for a file read already split, its fields joined again: exactly the
        line, since that path takes only files without CR)."""
        if self.text is not None:
            return self.text
        assert self.pieces is not None
        return pc.binary_join_element_wise(*(p.combine_chunks() for p in self.pieces), "|")


def split_lines(data: bytes) -> SourceLines:
    """Split on LF (CRLF tolerated, BOM dropped) and drop blank lines, keeping line numbers."""
    start = len(_BOM) if data.startswith(_BOM) else 0
    return _split_uniform(data, start) or split_lines_by_text(data)


def _split_uniform(data: bytes, start: int) -> SourceLines | None:
    """The common case in one pass of Arrow's CSV reader: every line holds the same number of
    `|`-separated fields, as valid UTF-8, with no CR and no blank line. Anything else returns
    None (the reader refuses a ragged, blank or undecodable line), for `split_lines_by_text`."""
    first_end = data.find(b"\n", start)
    first = data[start:first_end if first_end != -1 else len(data)]
    # the reader would read an empty line as a row of empty fields and drop a second BOM;
    # with one field a line, it could not tell a blank line from a value
    if (b"|" not in first or data.startswith(_BOM, start)
            or data.find(b"\r", start) != -1 or data.find(b"\n\n", start) != -1):
        return None
    names = [f"f{i}" for i in range(first.count(b"|") + 1)]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(memoryview(data)[start:]),
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(
                delimiter="|", quote_char=False, double_quote=False, escape_char=False,
                newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        return None
    n = table.num_rows
    return SourceLines(
        line_number=pa.array(np.arange(1, n + 1, dtype=np.int64)), decodable=pa.repeat(pa.scalar(True), n),
        pieces=tuple(table.columns),
    )


#: White space as both Python's `str.isspace` and Arrow's `utf8_trim_whitespace` define it (a
#: test checks every code point). RE2's `\s` knows only the ASCII five: a line of, say,
#: no-break spaces would count as a raw line, while trimming its fields leaves nothing.
WHITE_SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
               + "\u2028\u2029\u202f\u205f\u3000")
_NOT_BLANK = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITE_SPACE) + "]"


def split_lines_by_text(data: bytes) -> SourceLines:
    """`split_lines` for any file: Arrow splits the bytes on LF, then each line is checked."""
    body = memoryview(data)[len(_BOM):] if data.startswith(_BOM) else memoryview(data)
    # one binary value over the file's own bytes (no copy), split into lines by Arrow
    bounds = pa.array([0, len(body)], pa.int64()).buffers()[1]
    blob = pa.Array.from_buffers(pa.large_binary(), 1, [None, bounds, pa.py_buffer(body)])
    pieces = pc.list_flatten(pc.split_pattern(blob, b"\n"))
    try:
        text = pieces.cast(pa.large_string())
        decodable = pa.repeat(pa.scalar(True), len(text))
    except pa.ArrowInvalid:  # rare: decode line by line to find the bad ones
        text, decodable = _decode_each(pieces)
    if data.find(b"\r") != -1:
        text = pc.utf8_rtrim(text, characters="\r")
    text = text.cast(pa.string())
    lines = SourceLines(line_number=pa.array(np.arange(1, len(text) + 1, dtype=np.int64)),
                        decodable=decodable, text=text)
    keep = pc.match_substring_regex(text, _NOT_BLANK)  # blank: empty or only white space
    if pc.all(keep).as_py():
        return lines
    return SourceLines(line_number=lines.line_number.filter(keep), decodable=decodable.filter(keep),
                       text=text.filter(keep))


def _decode_each(pieces: pa.Array) -> tuple[pa.Array, pa.Array]:
    texts, ok = [], []
    for raw in pieces.to_pylist():
        try:
            texts.append(raw.decode("utf-8"))
            ok.append(True)
        except UnicodeDecodeError:
            texts.append(raw.decode("utf-8", errors="replace"))
            ok.append(False)
    return pa.array(texts, pa.large_string()), pa.array(ok, pa.bool_())


def detect_format(lines: SourceLines, locator: str) -> tuple[SourceFormat, bool]:
    """The file's format, and whether its first line is a header (to be skipped)."""
    if len(lines) == 0:
        raise SourceError(f"Source file is empty: {locator}")
    first = lines.slice(0, 1).texts()[0].as_py()
    fields = [f.strip() for f in first.split("|")]
    for fmt in SourceFormat:
        if [f.lower() for f in fields] == [h.lower() for h in fmt.header]:
            return fmt, True
    if lines.decodable[0].as_py() and len(fields) == 6 and _DATA_FIRST_FIELD.match(fields[0]):
        return SourceFormat.FIXTURE, False
    expected = " or ".join(f"{'|'.join(f.header)!r} ({f.value})" for f in SourceFormat)
    raise SourceError(
        f"Unrecognised header in {locator}: expected {expected}, got {first[:200]!r}"
    )


def split_fields(lines: SourceLines, fmt: SourceFormat) -> tuple[pa.Array, dict[str, pa.Array]]:
    """Pipe-split each line: its field count, and each field trimmed (null where the count is wrong)."""
    names = fmt.fields
    if lines.pieces is not None and len(lines.pieces) == len(names):
        count = pa.repeat(pa.scalar(len(names), pa.int64()), len(lines))
        return count, {name: pc.utf8_trim_whitespace(piece.combine_chunks())
                       for name, piece in zip(names, lines.pieces)}
    parts = pc.split_pattern(lines.texts(), "|")
    count = pc.list_value_length(parts).cast(pa.int64())
    shaped = pc.equal(count, len(names))
    # list_element needs every list long enough: pad misshaped rows with an empty list of nulls
    padded = pc.if_else(shaped, parts, pa.scalar([None] * len(names), parts.type))
    fields = {name: pc.utf8_trim_whitespace(pc.list_element(padded, i)) for i, name in enumerate(names)}
    return count, fields
