"""Writing outputs: atomic, concurrent, and read back with the contract's types and values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from otc.store import column_encodings, write_table, write_tables

TABLE = pa.table({
    "record_hash": pa.array(["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"]),
    "source_line_number": pa.array([2, 3], pa.int64()),
    "symbol": pa.array(["AAPL", "MSFT"]),
    "avg_trade_size": pa.array([Decimal("100.25"), Decimal("-0.01")], pa.decimal128(18, 2)),
    "market_share_pct": pa.array([Decimal("12.3456"), None], pa.decimal128(9, 4)),
    "wide": pa.array([Decimal("1" * 20)], pa.decimal128(30, 0)).take([0, 0]),
    "week_ending": pa.array([dt.date(2025, 12, 26)] * 2, pa.date32()),
    "tier": pa.array(["NMS_TIER_1"] * 2).dictionary_encode(),
})


def test_encodings_suit_each_kind_of_column():
    assert column_encodings(TABLE.schema) == {
        "record_hash": "DELTA_LENGTH_BYTE_ARRAY",
        "source_line_number": "DELTA_BINARY_PACKED",
        "avg_trade_size": "DELTA_BINARY_PACKED",
        "market_share_pct": "DELTA_BINARY_PACKED",
    }


def test_written_table_reads_back_equal_with_plain_types(tmp_path):
    path = tmp_path / "t.parquet"
    write_table(TABLE, path)
    back = pq.read_table(path)
    assert back.schema.field("tier").type == pa.string()
    assert back.schema.field("avg_trade_size").type == pa.decimal128(18, 2)
    assert back.schema.field("market_share_pct").type == pa.decimal128(9, 4)
    assert back.equals(TABLE.set_column(7, "tier", TABLE["tier"].cast(pa.string())))
    chunk = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {chunk.column(i).path_in_schema: chunk.column(i).encodings for i in range(chunk.num_columns)}
    assert "DELTA_LENGTH_BYTE_ARRAY" in encodings["record_hash"]
    assert "DELTA_BINARY_PACKED" in encodings["avg_trade_size"]


def test_duckdb_reads_the_encodings_exactly(tmp_path):
    path = tmp_path / "t.parquet"
    write_table(TABLE, path)
    rows = duckdb.sql(
        f"select record_hash, source_line_number, avg_trade_size, market_share_pct from '{path}' order by 2"
    ).fetchall()
    assert rows == [
        ("0123456789abcdef0123456789abcdef", 2, Decimal("100.25"), Decimal("12.3456")),
        ("fedcba9876543210fedcba9876543210", 3, Decimal("-0.01"), None),
    ]


def test_write_tables_writes_every_table(tmp_path):
    tables = {tmp_path / f"{i}.parquet": TABLE.slice(0, i) for i in range(3)}
    write_tables(tables)
    rows = {p.name: pq.read_table(p).num_rows for p in tmp_path.iterdir()}
    assert rows == {"0.parquet": 0, "1.parquet": 1, "2.parquet": 2}


def test_write_tables_reports_a_failure_after_the_other_writes_end(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    good = tmp_path / "good.parquet"
    with pytest.raises(OSError):
        write_tables({good: TABLE, blocker / "bad.parquet": TABLE})
    assert pq.read_table(good).num_rows == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "good.parquet"]


def test_several_files_read_as_one_table_in_file_order(tmp_path):
    from otc.schemas import Table
    from otc.store import read_tables

    first = pa.table({"week_ending": pa.array([dt.date(2025, 12, 19)] * 2, pa.date32()), "symbol": ["A", "B"],
                      "total_volume": pa.array([1, 2], pa.int64())})
    second = pa.table({"week_ending": pa.array([dt.date(2025, 12, 26)], pa.date32()), "symbol": ["C"],
                       "total_volume": pa.array([3], pa.int64())})
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    write_table(first, paths[0])
    write_table(second, paths[1])
    got = read_tables(paths, Table.SYMBOL_SUMMARY, columns=["week_ending", "symbol", "total_volume"],
                      dictionary=("symbol",))
    assert got.column("symbol").type == pa.dictionary(pa.int32(), pa.string())
    assert got.to_pylist() == first.to_pylist() + second.to_pylist()


def _summary(week: dt.date, volumes: list[int]) -> pa.Table:
    return pa.table({"week_ending": pa.array([week] * len(volumes), pa.date32()),
                     "symbol": [f"S{i}" for i in range(len(volumes))], "total_volume": pa.array(volumes, pa.int64())})


@pytest.fixture
def recent(monkeypatch):
    """An empty memory of recent tables for this test, and a list of the files it reads."""
    from otc import store

    monkeypatch.setattr(store, "_WRITTEN", store._RecentTables(2**20))
    monkeypatch.setattr(store, "_SPANS", store._RecentTables(2**20))
    opened, read_file = [], store._read_file
    monkeypatch.setattr(store, "_read_file", lambda path, *rest: opened.append(str(path)) or read_file(path, *rest))
    return opened


def _forget_writes():
    from otc import store

    for kept in (store._WRITTEN, store._SPANS):
        kept.entries.clear()
        kept.bytes = 0


def test_a_span_rereads_only_files_changed_since_it_last_read_them(tmp_path, recent):
    from otc import store
    from otc.schemas import Table

    weeks = [dt.date(2025, 12, 5) + dt.timedelta(weeks=i) for i in range(8)]  # more than a window: two threads
    paths = [tmp_path / f"{w}.parquet" for w in weeks]
    for week, path in zip(weeks, paths):
        write_table(_summary(week, [1, 2]), path)
    _forget_writes()  # as in a new process
    columns = ["week_ending", "symbol", "total_volume"]
    assert store.read_tables(paths, Table.SYMBOL_SUMMARY, columns).num_rows == 16
    assert sorted(recent) == sorted(map(str, paths))
    recent.clear()
    assert store.read_tables(paths[-6:], Table.SYMBOL_SUMMARY, columns).num_rows == 12
    assert recent == []  # every file of the window came from memory
    pq.write_table(_summary(weeks[-1], [7, 8, 9]), paths[-1])  # a week written again, by another process
    again = store.read_tables(paths[-6:], Table.SYMBOL_SUMMARY, columns)
    assert recent == [str(paths[-1])]
    assert again.column("total_volume").to_pylist()[-3:] == [7, 8, 9]
    # other columns are another read
    recent.clear()
    store.read_tables(paths[:2], Table.SYMBOL_SUMMARY, ["symbol", "week_ending"])
    assert recent == []  # a subset of the columns kept
    _forget_writes()
    store.read_tables(paths[:2], Table.SYMBOL_SUMMARY, ["symbol"])
    store.read_tables(paths[:2], Table.SYMBOL_SUMMARY, ["symbol", "total_volume"])
    assert recent == [str(p) for p in paths[:2]] * 2


def test_a_table_this_process_wrote_is_read_from_memory_as_from_its_file(tmp_path, recent):
    from otc import store
    from otc.schemas import Table

    path = tmp_path / "s.parquet"
    written = _summary(dt.date(2025, 12, 26), [5, 6]).append_column(
        "tier", pa.array(["OTC", "OTC"]).dictionary_encode())
    write_table(written, path)
    for columns, dictionary in ((["total_volume", "symbol"], ("symbol",)), (["tier", "symbol"], ())):
        got = store.read_table(path, Table.SYMBOL_SUMMARY, columns, dictionary)
        _forget_writes()
        from_file = store.read_table(path, Table.SYMBOL_SUMMARY, columns, dictionary)
        assert got.schema == from_file.schema and got.equals(from_file)
        write_table(written, path)
    assert recent == [str(path)] * 2  # once for each kind of read: the others came from memory
    recent.clear()
    write_table(written.slice(0, 1), path)
    assert store.read_table(path, Table.SYMBOL_SUMMARY, ["symbol"]).num_rows == 1 and recent == []


def test_memory_of_recent_tables_keeps_to_its_size(tmp_path, monkeypatch):
    from otc import store

    def strings(rows: int) -> pa.Table:  # about rows kB of buffers
        return pa.table({"symbol": pa.array(["x" * 1000] * rows)})

    kept = store._RecentTables(max_bytes=1_000_000)
    monkeypatch.setattr(store, "_WRITTEN", kept)
    write_table(strings(300), tmp_path / "big.parquet")
    assert list(kept.entries) == []  # over a quarter of the budget: not kept
    for i in range(6):
        write_table(strings(200), tmp_path / f"{i}.parquet")
    assert 800_000 <= kept.bytes <= kept.max_bytes
    assert list(kept.entries) == [str(tmp_path / f"{i}.parquet") for i in (2, 3, 4, 5)]  # the oldest went first
    assert kept.bytes == sum(entry[2] for entry in kept.entries.values())


def test_what_spans_read_is_not_pushed_out_by_what_stages_write(tmp_path, recent):
    from otc import store
    from otc.schemas import Table

    weeks = [dt.date(2025, 12, 5) + dt.timedelta(weeks=i) for i in range(6)]
    paths = [tmp_path / f"{w}.parquet" for w in weeks]
    for week, path in zip(weeks, paths):
        pq.write_table(_summary(week, [1, 2]), path)  # by another process
    store.read_tables(paths, Table.SYMBOL_SUMMARY, ["symbol"])
    for i in range(20):  # a week's big tables, more than the memory of writes holds
        write_table(pa.table({"symbol": pa.array(["x" * 1000] * 200)}), tmp_path / f"big{i}.parquet")
    recent.clear()
    store.read_tables(paths, Table.SYMBOL_SUMMARY, ["symbol"])
    assert recent == []


def test_one_file_is_read_with_the_requested_columns_in_their_order(tmp_path):
    from otc.schemas import Table
    from otc.store import read_table

    path = tmp_path / "s.parquet"
    write_table(_summary(dt.date(2025, 12, 26), [5, 6]), path)
    got = read_table(path, Table.SYMBOL_SUMMARY, columns=["total_volume", "symbol"], dictionary=("symbol",))
    assert got.column_names == ["total_volume", "symbol"]
    assert got.schema.field("symbol").type == pa.dictionary(pa.int32(), pa.string())
    assert got.column("total_volume").to_pylist() == [5, 6]


def test_a_column_the_file_lacks_is_an_error_naming_the_file(tmp_path):
    from otc.schemas import Table
    from otc.store import read_table, read_tables

    path = tmp_path / "s.parquet"
    write_table(_summary(dt.date(2025, 12, 26), [5]), path)
    for read in (lambda: read_table(path, Table.SYMBOL_SUMMARY, ["symbol", "total_trades"]),
                 lambda: read_tables([path, path], Table.SYMBOL_SUMMARY, ["symbol", "total_trades"])):
        with pytest.raises(pa.ArrowInvalid, match=f"{path}: no column total_trades"):
            read()


def test_a_span_file_replaced_while_it_was_read_is_not_kept(tmp_path, monkeypatch, recent):
    from otc import store
    from otc.schemas import Table

    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for path in paths:
        write_table(_summary(dt.date(2025, 12, 26), [1]), path)
    _forget_writes()
    identity, calls = store.file_identity, []

    def moving(path):  # the second look at a.parquet sees another file
        calls.append(path)
        found = identity(path)
        return (*found[:3], found[3] + 1) if path == paths[0] and calls.count(path) == 2 else found

    monkeypatch.setattr(store, "file_identity", moving)
    columns = ["symbol", "total_volume"]
    store.read_tables(paths, Table.SYMBOL_SUMMARY, columns)
    store.read_tables(paths, Table.SYMBOL_SUMMARY, columns)
    assert recent == [str(paths[0]), str(paths[1]), str(paths[0])]  # b came from memory, a did not


def test_small_tables_are_snappy_and_large_ones_zstd(tmp_path):
    from otc.store import _SMALL_TABLE_BYTES

    small = TABLE
    large = pa.table({"symbol": pa.array(["x" * 100] * (_SMALL_TABLE_BYTES // 100 + 1))})
    for table, expected in ((small, "SNAPPY"), (large, "ZSTD")):
        path = tmp_path / f"{expected}.parquet"
        write_table(table, path)
        chunk = pq.ParquetFile(path).metadata.row_group(0).column(0)
        assert chunk.compression == expected
        assert pq.read_table(path).num_rows == table.num_rows
