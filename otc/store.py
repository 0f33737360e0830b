"""Reading and writing outputs; every write is atomic (temporary file, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from otc import failpoints
from otc.schemas import ENCODED_COLUMNS, Table
from otc.weeks import HISTORY_WEEKS, WINDOW_WEEKS


def write_table(table: pa.Table, path: Path) -> None:
    """Write Parquet so that a reader sees the old file or the new one, never half of one.

    No Arrow schema is stored: readers take the Parquet types, so dictionary-encoded
    columns read back as the plain strings of the contract.
    """
    encodings = column_encodings(table.schema)
    dictionary = [name for name in table.column_names if name not in encodings]
    with _atomic(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", store_schema=False, use_dictionary=dictionary,
                       column_encoding=encodings or None, store_decimal_as_integer=True)


def column_encodings(schema: pa.Schema) -> dict[str, str]:
    """Parquet encodings for the columns a dictionary does not suit (the rest get one).

    Hashes never repeat: their lengths delta-encoded, the hex left to zstd. Integers and
    decimals (stored as integers) are delta-packed: line numbers and counts are cheaper to
    write and smaller that way than through a dictionary that rarely repeats.
    """
    encodings = {}
    for field in schema:
        if field.name.endswith("record_hash"):
            encodings[field.name] = "DELTA_LENGTH_BYTE_ARRAY"
        elif pa.types.is_integer(field.type) or (pa.types.is_decimal(field.type) and field.type.precision <= 18):
            encodings[field.name] = "DELTA_BINARY_PACKED"
    return encodings


def write_tables(tables: dict[Path, pa.Table]) -> None:
    """Write several tables at once, largest first, each atomically; return when all are written.

    Parquet encoding and compression release the GIL, so a stage's big outputs (raw,
    venue volume, normalization map) are written on both cores instead of one after another.
    """
    order = sorted(tables, key=lambda path: tables[path].nbytes, reverse=True)
    writers = min(len(order), _WRITE_THREADS, pa.cpu_count())
    if writers < 2:
        for path in order:
            write_table(tables[path], path)
        return
    with ThreadPoolExecutor(max_workers=writers) as pool:
        futures = [pool.submit(write_table, tables[path], path) for path in order]
    for future in futures:
        future.result()  # re-raise the first failure, after every write has ended


#: Two writers keep both cores of a small machine busy; more only contend for memory bandwidth.
#: Fewer when Arrow's thread pool is smaller (see `runner._share_cores`).
_WRITE_THREADS = 2


def read_table(
    path: Path, table: Table, columns: list[str] | None = None, dictionary: tuple[str, ...] = ()
) -> pa.Table:
    """A stage's input; encoded columns (and those in `dictionary`) come back as dictionaries,
    the rest as in the schema."""
    names = columns or table.schema.names
    return _read_file(path, tuple(names), _encoded(names, dictionary))


def read_tables(
    paths: list[Path], table: Table, columns: list[str] | None = None, dictionary: tuple[str, ...] = ()
) -> pa.Table:
    """`read_table` of several files of one table (a span of weeks) as one.

    A week's file is read again by every span that holds it (the six windows of rolling, the
    26 weeks of a report's history), so the files of spans are kept, a hundred at most, by
    identity: a file written again (a new inode, size or time) is read again.
    """
    if len(paths) == 1:
        return read_table(paths[0], table, columns, dictionary)
    names = tuple(columns or table.schema.names)
    encoded = _encoded(names, dictionary)
    if len(paths) <= _SPAN_READ_ALONE:
        return pa.concat_tables([_SPAN_FILES.read(path, names, encoded) for path in paths])
    # a long span read cold (a report's first) goes faster on two threads: reading releases the GIL
    with ThreadPoolExecutor(max_workers=2) as pool:
        return pa.concat_tables(list(pool.map(lambda path: _SPAN_FILES.read(path, names, encoded), paths)))


#: Up to a window's weeks, files are read one after another: most come from the cache.
_SPAN_READ_ALONE = WINDOW_WEEKS


def _encoded(names, dictionary: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in names if c in ENCODED_COLUMNS or c in dictionary)


def _read_file(path: Path | str, names: tuple[str, ...], encoded: tuple[str, ...]) -> pa.Table:
    # ParquetFile rather than pq.read_table, which builds a dataset for a single file: ~0.5 ms
    # a read, and stages read many small files
    with pq.ParquetFile(path, read_dictionary=list(encoded)) as file:
        missing = [name for name in names if name not in file.schema_arrow.names]
        if missing:  # ParquetFile.read would leave them out without a word
            raise pa.ArrowInvalid(f"{path}: no column {', '.join(missing)}")
        return file.read(columns=list(names))


class _RecentFiles:
    """The tables of the files spans read lately, by the file's identity and the columns read
    (Arrow tables are immutable: sharing one is safe). Two threads may read at once."""

    def __init__(self, size: int):
        self.size = size
        self.tables: OrderedDict[tuple, pa.Table] = OrderedDict()
        self.lock = threading.Lock()

    def read(self, path: Path, names: tuple[str, ...], encoded: tuple[str, ...]) -> pa.Table:
        key = (str(path), *_identity(path), names, encoded)
        with self.lock:
            if key in self.tables:
                self.tables.move_to_end(key)
                return self.tables[key]
        table = _read_file(path, names, encoded)
        if _identity(path) == key[1:5]:  # not replaced while it was read: keep it
            with self.lock:
                self.tables[key] = table
                while len(self.tables) > self.size:
                    self.tables.popitem(last=False)
        return table


def _identity(path: Path) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


_SPAN_FILES = _RecentFiles(4 * HISTORY_WEEKS)


def write_json(data: Any, path: Path) -> bool:
    """Write JSON atomically; leave the file untouched (return False) when the content is the same."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    with _atomic(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return True


def write_bytes(content: bytes, path: Path) -> bool:
    """Write a file atomically; leave it untouched (return False) when it already holds `content`,
    so that whatever depends on it is not re-run for nothing."""
    try:
        if path.stat().st_size == len(content) and path.read_bytes() == content:
            return False
    except OSError:
        pass
    with _atomic(path) as tmp:
        Path(tmp).write_bytes(content)
    return True


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class _atomic:
    """A temporary path beside `path` (hidden, so no reader globs it) renamed over it on success."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the writer's pid in the name tells a sweep which leftovers belong to a dead process
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.{os.getpid()}.", suffix=".tmp",
                                        dir=self.path.parent)
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            with open(self.tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            failpoints.reach(f"write:{self.path}")
            os.replace(self.tmp, self.path)
        else:
            Path(self.tmp).unlink(missing_ok=True)
