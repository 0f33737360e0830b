"""Small in-memory input tables shared by the stage tests."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from otc.schemas import Table

WEEK = dt.date(2025, 12, 26)
NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)


def venue_volume(rows: list[tuple[str, str, int, int]], week: dt.date = WEEK) -> pa.Table:
    """otc_venue_volume rows (symbol, mpid, shares, trades), as normalize writes them."""
    n = len(rows)
    return pa.table({
        "week_ending": pa.array([week] * n, pa.date32()),
        "tier": pa.array(["NMS_TIER_1"] * n, pa.string()),
        "symbol": pa.array([r[0] for r in rows], pa.string()),
        "mpid": pa.array([r[1] for r in rows], pa.string()),
        "total_shares": pa.array([r[2] for r in rows], pa.int64()),
        "total_trades": pa.array([r[3] for r in rows], pa.int64()),
        "avg_trade_size": pa.nulls(n, Table.VENUE_VOLUME.schema.field("avg_trade_size").type),
        "raw_record_hash": pa.array([f"hash{i:028d}" for i in range(n)], pa.string()),
        "normalized_at": pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
        "execution_id": pa.array(["exec_norm"] * n, pa.string()),
        "batch_id": pa.array(["batch_test"] * n, pa.string()),
    }, schema=Table.VENUE_VOLUME.schema)
