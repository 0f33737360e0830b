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
from otc.weeks import WINDOW_WEEKS


def write_table(table: pa.Table, path: Path) -> None:
    """Write Parquet so that a reader sees the old file or the new one, never half of one.

    No Arrow schema is stored: readers take the Parquet types, so dictionary-encoded
    columns read back as the plain strings of the contract.
    """
    encodings = column_encodings(table.schema)
    dictionary = [name for name in table.column_names if name not in encodings]
    with _atomic(path) as tmp:
        pq.write_table(table, tmp, compression=codec(table), store_schema=False, use_dictionary=dictionary,
                       column_encoding=encodings or None, store_decimal_as_integer=True)
    _WRITTEN.keep(path, file_identity(path), table)
    _SPANS.drop(path)


def codec(table: pa.Table) -> str:
    """zstd, but Snappy for a table of under 1 MiB (a week's summary, rolling, snapshot, checks):
    zstd sets up anew for every column, which on a few thousand rows costs more (0.2-0.4 ms a
    file) than its output, 10-20 % smaller there, saves."""
    return "snappy" if table.nbytes < _SMALL_TABLE_BYTES else "zstd"


_SMALL_TABLE_BYTES = 2**20


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
    the rest as in the schema. A file this process wrote or read lately comes from memory."""
    names = tuple(columns or table.schema.names)
    encoded = _encoded(names, dictionary)
    kept = _kept(path, names, encoded)
    return kept if kept is not None else _read_file(path, names, encoded)


def read_tables(
    paths: list[Path], table: Table, columns: list[str] | None = None, dictionary: tuple[str, ...] = ()
) -> pa.Table:
    """`read_table` of several files of one table (a span of weeks) as one.

    A week's file is read again by every span that holds it (the six windows of rolling, the
    26 weeks of a report's history), so what a span reads is kept too.
    """
    if len(paths) == 1:
        return read_table(paths[0], table, columns, dictionary)
    names = tuple(columns or table.schema.names)
    encoded = _encoded(names, dictionary)
    if len(paths) <= _SPAN_READ_ALONE:
        return pa.concat_tables([_read_kept(path, names, encoded) for path in paths])
    # a long span read cold (a report's first) goes faster on two threads: reading releases the GIL
    with ThreadPoolExecutor(max_workers=2) as pool:
        return pa.concat_tables(list(pool.map(lambda path: _read_kept(path, names, encoded), paths)))


#: Up to a window's weeks, files are read one after another: most come from memory.
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


def _read_kept(path: Path, names: tuple[str, ...], encoded: tuple[str, ...]) -> pa.Table:
    """A span's file, from memory if kept; else read, and kept unless it changed while read."""
    kept = _kept(path, names, encoded)
    if kept is not None:
        return kept
    before = file_identity(path)
    table = _read_file(path, names, encoded)
    if file_identity(path) == before:
        _SPANS.keep(path, before, table)
    return table


def _kept(path: Path, names: tuple[str, ...], encoded: tuple[str, ...]) -> pa.Table | None:
    found = _WRITTEN.get(path, names, encoded)
    return found if found is not None else _SPANS.get(path, names, encoded)


def _as_read(table: pa.Table, names: tuple[str, ...], encoded: tuple[str, ...]) -> pa.Table:
    """`table`'s `names` with the types a read of its file gives: `encoded` columns as
    dictionaries, the others plain."""
    table = table.select(list(names))
    for index, field in enumerate(table.schema):
        if (field.name in encoded) != pa.types.is_dictionary(field.type):
            table = _retyped(table, index)
    return table


def _retyped(table: pa.Table, index: int) -> pa.Table:
    """`table` with column `index` dictionary-encoded if it was plain, plain if it was not."""
    field, column = table.schema.field(index), table.column(index)
    if pa.types.is_dictionary(field.type):
        column = column.cast(field.type.value_type)
    else:
        column = column.combine_chunks().dictionary_encode()
    return table.set_column(index, field.with_type(column.type), column)


class _RecentTables:
    """The tables of files this process wrote, or read as part of a span, lately: stages read
    what the stage before them wrote (ingest's raw, normalize's venue volume, rolling's
    output), and spans read each week again. An entry serves a read only while its file has
    the identity (device, inode, size, mtime) it had when kept: a file written again is read
    again. At most `max_bytes` of buffers are kept, the least lately used going first; a table
    of over a quarter of that is not kept at all. Arrow tables are immutable, so sharing one
    is safe; two threads may read or write at once."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, tuple[tuple[int, int, int, int], pa.Table, int]] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()

    def get(self, path: Path, names: tuple[str, ...], encoded: tuple[str, ...]) -> pa.Table | None:
        with self.lock:
            entry = self.entries.get(str(path))
            if entry is not None:
                self.entries.move_to_end(str(path))
        if entry is None or not set(names) <= set(entry[1].column_names):
            return None
        try:
            current = file_identity(path)
        except OSError:
            current = None
        if current != entry[0]:  # written again since, or gone
            self.drop(path)
            return None
        identity, table, _size = entry
        schema = table.schema
        plain = [schema.get_field_index(n) for n in encoded if not pa.types.is_dictionary(schema.field(n).type)]
        if plain:  # encoded once, for every later reader (aggregate and snapshot read the venue volume so)
            for index in plain:
                table = _retyped(table, index)
            self.keep(path, identity, table)
        return _as_read(table, names, encoded)

    def keep(self, path: Path, identity: tuple[int, int, int, int], table: pa.Table) -> None:
        size = table.get_total_buffer_size()
        with self.lock:
            self._drop(str(path))
            if size > self.max_bytes // 4:
                return  # a big week's table: keeping it would only raise the peak memory
            self.entries[str(path)] = (identity, table, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                self._drop(next(iter(self.entries)))

    def drop(self, path: Path) -> None:
        with self.lock:
            self._drop(str(path))

    def _drop(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[2]


def file_identity(path: Path) -> tuple[int, int, int, int]:
    """Device, inode, size and mtime: a file written again (atomically, so a new inode) differs."""
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


#: What this process wrote: about ten tier-weeks of 20,000 rows, two of 130,000 (the next
#: stages of a week read most of it, and spans its summary).
_WRITTEN = _RecentTables(64 * 2**20)
#: What spans read from files: a report's 26 weeks of summaries of 130,000-row weeks, many
#: times over for smaller weeks. Apart, so a week's big writes do not push the spans out.
_SPANS = _RecentTables(64 * 2**20)


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
