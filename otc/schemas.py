"""Every output table: its name and its Arrow schema, defined once (documented in docs/tables.md)."""

from __future__ import annotations

import enum

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
AVG_TRADE_SIZE = pa.decimal128(18, 2)
SHARE_PCT = pa.decimal128(9, 4)
TREND_PCT = pa.decimal128(18, 2)

INGEST_VERSION = "v1.0.1"  # v1.0.1: lines of non-ASCII white space alone are blank again
CALCULATION_VERSION = "v1.0.0"
ROLLING_VERSION = "v1.0.0"
SNAPSHOT_VERSION = "v1.0.0"

_KEY = [
    pa.field("week_ending", pa.date32(), nullable=False),
    pa.field("tier", pa.string(), nullable=False),
]
_LINEAGE = [pa.field("execution_id", pa.string()), pa.field("batch_id", pa.string())]


def _table(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(_KEY + [pa.field(n, t) for n, t in fields] + _LINEAGE)


class Table(str, enum.Enum):
    """The output tables; each value is its directory name under the build dir."""

    RAW = "otc_raw"
    REJECTS = "otc_rejects"
    NORMALIZATION_MAP = "otc_normalization_map"
    VENUE_VOLUME = "otc_venue_volume"
    SYMBOL_SUMMARY = "otc_symbol_summary"
    VENUE_SHARE = "otc_venue_share"
    QUALITY_CHECKS = "otc_quality_checks"
    ROLLING_6W = "otc_symbol_rolling_6w"
    RESEARCH_SNAPSHOT = "otc_research_snapshot"

    @property
    def schema(self) -> pa.Schema:
        return SCHEMAS[self]


SCHEMAS: dict[Table, pa.Schema] = {
    Table.RAW: _table(
        ("record_hash", pa.string()),
        ("source_line_number", pa.int64()),
        ("symbol", pa.string()),
        ("mpid", pa.string()),
        ("total_shares", pa.int64()),
        ("total_trades", pa.int64()),
        ("issue_name", pa.string()),
        ("market_participant_name", pa.string()),
        ("source_last_update_date", pa.date32()),
        ("ingested_at", TIMESTAMP),
    ),
    Table.REJECTS: _table(
        ("stage", pa.string()),
        ("reason_code", pa.string()),
        ("reason_detail", pa.string()),
        ("source_locator", pa.string()),
        ("line_number", pa.int64()),
        ("raw_line", pa.string()),
        ("raw_record_hash", pa.string()),
        ("created_at", TIMESTAMP),
    ),
    Table.NORMALIZATION_MAP: _table(
        ("raw_record_hash", pa.string()),
        ("symbol", pa.string()),
        ("mpid", pa.string()),
        ("status", pa.string()),
        ("reject_reason", pa.string()),
        ("reject_detail", pa.string()),
        ("created_at", TIMESTAMP),
    ),
    Table.VENUE_VOLUME: _table(
        ("symbol", pa.string()),
        ("mpid", pa.string()),
        ("total_shares", pa.int64()),
        ("total_trades", pa.int64()),
        ("avg_trade_size", AVG_TRADE_SIZE),
        ("raw_record_hash", pa.string()),
        ("normalized_at", TIMESTAMP),
    ),
    Table.SYMBOL_SUMMARY: _table(
        ("symbol", pa.string()),
        ("total_volume", pa.int64()),
        ("total_trades", pa.int64()),
        ("venue_count", pa.int64()),
        ("avg_trade_size", AVG_TRADE_SIZE),
        ("calculation_version", pa.string()),
        ("calculated_at", TIMESTAMP),
    ),
    Table.VENUE_SHARE: _table(
        ("mpid", pa.string()),
        ("total_volume", pa.int64()),
        ("total_trades", pa.int64()),
        ("market_share_pct", SHARE_PCT),
        ("calculation_version", pa.string()),
        ("calculated_at", TIMESTAMP),
    ),
    Table.QUALITY_CHECKS: _table(
        ("pipeline_name", pa.string()),
        ("check_name", pa.string()),
        ("check_category", pa.string()),
        ("status", pa.string()),
        ("check_value", pa.string()),
        ("expected_value", pa.string()),
        ("tolerance", pa.string()),
        ("message", pa.string()),
        ("created_at", TIMESTAMP),
    ),
    Table.ROLLING_6W: _table(
        ("symbol", pa.string()),
        ("avg_6w_volume", pa.int64()),
        ("avg_6w_trades", pa.int64()),
        ("trend_direction", pa.string()),
        ("trend_pct", TREND_PCT),
        ("weeks_in_window", pa.int64()),
        ("is_complete_window", pa.bool_()),
        ("rolling_version", pa.string()),
        ("calculated_at", TIMESTAMP),
    ),
    Table.RESEARCH_SNAPSHOT: _table(
        ("symbol", pa.string()),
        ("total_volume", pa.int64()),
        ("total_trades", pa.int64()),
        ("venue_count", pa.int64()),
        ("avg_trade_size", AVG_TRADE_SIZE),
        ("top_venue_mpid", pa.string()),
        ("top_venue_share_pct", SHARE_PCT),
        ("rolling_avg_6w_volume", pa.int64()),
        ("rolling_avg_6w_trades", pa.int64()),
        ("rolling_trend_direction", pa.string()),
        ("rolling_weeks_available", pa.int64()),
        ("rolling_is_complete", pa.bool_()),
        ("has_rolling_data", pa.bool_()),
        ("quality_status", pa.string()),
        ("snapshot_version", pa.string()),
        ("created_at", TIMESTAMP),
    ),
}


#: Columns with one value per file (or two, like `status`): dictionary-encoded in memory and
#: in Parquet, so 2 million rows do not carry 2 million copies of a batch id. Files store no
#: Arrow schema, so every reader (pyarrow, DuckDB, Polars) sees them as plain strings, as the
#: contract says.
ENCODED_COLUMNS = ("tier", "execution_id", "batch_id", "status")


def conform(table: pa.Table, target: Table) -> pa.Table:
    """Columns in the schema's order and types (encoded columns may stay dictionaries)."""
    table = table.select(target.schema.names)
    fields = [
        table.schema.field(f.name).with_nullable(f.nullable)
        if f.name in ENCODED_COLUMNS and pa.types.is_dictionary(table.schema.field(f.name).type)
        else f
        for f in target.schema
    ]
    return table.cast(pa.schema(fields))


def plain(schema: pa.Schema) -> pa.Schema:
    """`schema` with dictionary columns shown as their value type: what a file reader sees."""
    return pa.schema([
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema
    ])


def empty(target: Table) -> pa.Table:
    return target.schema.empty_table()
