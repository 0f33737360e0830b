"""SQL over the outputs: an in-process DuckDB with a view per output table, plus the run records."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from otc.errors import NoOutputs, QueryError
from otc.layout import Layout
from otc.params import DEFAULT_BUILD_DIR
from otc.schemas import TIMESTAMP, Table
from otc.store import read_json

MANIFEST_SCHEMA = pa.schema([
    ("week_ending", pa.date32()), ("tier", pa.string()), ("source_type", pa.string()),
    ("source_locator", pa.string()), ("source_sha256", pa.string()), ("source_bytes", pa.int64()),
    ("row_count_raw", pa.int64()), ("row_count_parsed", pa.int64()), ("row_count_inserted", pa.int64()),
    ("row_count_normalized", pa.int64()), ("row_count_rejected", pa.int64()), ("stage", pa.string()),
    ("execution_id", pa.string()), ("batch_id", pa.string()),
    ("created_at", TIMESTAMP), ("updated_at", TIMESTAMP),
])
EXECUTIONS_SCHEMA = pa.schema([
    ("execution_id", pa.string()), ("pipeline_name", pa.string()), ("parent_execution_id", pa.string()),
    ("batch_id", pa.string()), ("status", pa.string()), ("started_at", TIMESTAMP), ("finished_at", TIMESTAMP),
    ("params", pa.string()), ("metrics", pa.string()), ("error", pa.string()),
])
BATCHES_SCHEMA = pa.schema([
    ("batch_id", pa.string()), ("tier", pa.string()), ("start_week", pa.date32()), ("end_week", pa.date32()),
    ("status", pa.string()), ("started_at", TIMESTAMP), ("finished_at", TIMESTAMP),
    ("weeks_requested", pa.int64()), ("weeks_processed", pa.int64()), ("total_ingested", pa.int64()),
    ("total_normalized", pa.int64()), ("total_rejected", pa.int64()), ("total_raw_lines", pa.int64()),
    ("total_skipped", pa.int64()), ("rolling_computed", pa.bool_()), ("snapshot_built", pa.bool_()),
    ("stages_run", pa.int64()), ("stages_up_to_date", pa.int64()), ("errors", pa.string()),
])
RECORD_VIEWS = ("otc_week_manifest", "otc_batches", "executions")

#: Every table a query can name, with one line on what a row is: `otc sql --help` lists these.
TABLE_DESCRIPTIONS: dict[str, str] = {
    Table.RAW.value: "one row per parsed source line, exact repeats left out (ingest)",
    Table.REJECTS.value: "one row per rejected line or record, with its reason (ingest, normalize)",
    Table.NORMALIZATION_MAP.value: "one row per raw record: ACCEPTED or REJECTED, and why (normalize)",
    Table.VENUE_VOLUME.value: "one row per accepted symbol and venue (MPID) of a week (normalize)",
    Table.SYMBOL_SUMMARY.value: "one row per symbol and week: volume, trades, venues (aggregate)",
    Table.VENUE_SHARE.value: "one row per venue and week: volume and market share (aggregate)",
    Table.QUALITY_CHECKS.value: "one row per quality check of a week: PASS, WARN or FAIL (aggregate, rolling)",
    Table.ROLLING_6W.value: "one row per symbol and range-end week: 6-week averages and trend (rolling)",
    Table.RESEARCH_SNAPSHOT.value: "one row per symbol and range-end week: totals, top venue, 6-week trend (snapshot)",
    "otc_week_manifest": "one row per tier-week: source file, row counts and the stage reached",
    "otc_batches": "one row per batch (one tier's backfill run): its range, status and metrics",
    "executions": "one row per execution of every batch: stage, parent, status, times, metrics",
}


def no_outputs_hint(build_dir: Path) -> str:
    """What to say when `build_dir` holds no backfill output yet."""
    return f"No outputs in {build_dir}/ yet: run a backfill first, e.g. {backfill_command(build_dir)}"


def backfill_command(build_dir: Path, tier: str = "NMS_TIER_1") -> str:
    """An example backfill that writes into `build_dir` (named only when not the default)."""
    command = f"doit backfill tier={tier} weeks_back=6"
    if Path(build_dir) != Path(DEFAULT_BUILD_DIR):
        command += f" {shlex.quote(f'build_dir={build_dir}')}"
    return command


def connect(layout: Layout) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose tables are those of `layout`'s build directory (`TABLE_DESCRIPTIONS`)."""
    if not layout.manifest_file.exists():
        raise NoOutputs(no_outputs_hint(layout.build_dir))
    con = duckdb.connect()
    for table in Table:
        files = sorted(layout.table_dir(table).glob("*/*.parquet"))
        if files:
            pattern = str(layout.table_dir(table) / "**" / "*.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW {table.value} AS SELECT * FROM read_parquet('{pattern}')")
        else:
            _register(con, table.value, table.schema.empty_table())
    batches = [read_json(p) for p in sorted(layout.batches_dir.glob("*.json"))]
    _register(con, "otc_week_manifest", _rows(read_json(layout.manifest_file), MANIFEST_SCHEMA))
    _register(con, "otc_batches", _rows([_batch_row(b) for b in batches], BATCHES_SCHEMA))
    _register(con, "executions", _rows(_executions(batches), EXECUTIONS_SCHEMA))
    return con


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The query's result; DuckDB's own message, on one line, when it fails."""
    try:
        relation = con.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    except duckdb.Error as exc:
        raise QueryError(" ".join(str(exc).split())) from None


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """`name` as a table holding `table`'s rows; the Arrow object's own name does not outlive
    this call, so `SHOW TABLES` lists only the names of TABLE_DESCRIPTIONS."""
    arrow_name = f"_{name}_arrow"
    con.register(arrow_name, table)
    try:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {arrow_name}")
    finally:
        con.unregister(arrow_name)


def _rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    converted = [{f.name: _convert(row.get(f.name), f.type) for f in schema} for row in rows]
    return pa.Table.from_pylist(converted, schema=schema)


def _convert(value: Any, type_: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(type_):
        return dt.datetime.fromisoformat(value)
    if pa.types.is_date(type_):
        return dt.date.fromisoformat(value)
    if pa.types.is_string(type_) and not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    return value


def _batch_row(batch: dict[str, Any]) -> dict[str, Any]:
    metrics = batch.get("metrics", {})
    params = batch.get("params", {})
    return {
        **metrics, "batch_id": batch["batch_id"], "tier": params.get("tier"),
        "start_week": params.get("start_week"), "end_week": params.get("end_week"),
        "status": batch.get("status"), "started_at": batch.get("started_at"),
        "finished_at": batch.get("finished_at"), "errors": "; ".join(metrics.get("errors", [])) or None,
    }


def _executions(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for batch in batches:
        for execution in batch.get("executions", []):
            seen.setdefault(execution["execution_id"], execution)
    return sorted(seen.values(), key=lambda e: e["started_at"])
