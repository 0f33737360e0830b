"""The pure stages over the six bundled fixture weeks reproduce the hand-computed golden values.

Everything runs in memory (no build directory): bytes -> ingest -> normalize -> aggregate per
week, then rolling and snapshot for 2025-12-26. Expected values come from tests/golden_values.py,
which was written by hand, never by running otc/.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from otc.aggregate import AggregateResult, aggregate
from otc.context import StageContext
from otc.ingest import IngestResult, ingest
from otc.normalize import NormalizeResult, normalize
from otc.rolling import RollingResult, rolling_6w
from otc.snapshot import research_snapshot
from otc.sources import SourceFile
from otc.tiers import Tier


import golden_values as golden  # tests/ is on sys.path under pytest

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "otc"
WEEKS = [dt.date(2025, 11, 21), dt.date(2025, 11, 28), dt.date(2025, 12, 5),
         dt.date(2025, 12, 12), dt.date(2025, 12, 19), dt.date(2025, 12, 26)]
LAST_WEEK = WEEKS[-1]
NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)


def context(week: dt.date) -> StageContext:
    return StageContext(Tier.NMS_TIER_1, week, "exec_test", "batch_test", NOW)


@dataclasses.dataclass(frozen=True)
class Week:
    ingested: IngestResult
    normalized: NormalizeResult
    aggregated: AggregateResult


@dataclasses.dataclass(frozen=True)
class Run:
    weeks: dict[dt.date, Week]
    rolling: RollingResult
    snapshot: pa.Table


@pytest.fixture(scope="module")
def run() -> Run:
    weeks = {}
    for week in WEEKS:
        path = FIXTURES / f"week_{week.isoformat()}.psv"
        data = path.read_bytes()
        source = SourceFile(str(path), data, hashlib.sha256(data).hexdigest(), len(data))
        ctx = context(week)
        ingested = ingest(source, ctx)
        normalized = normalize(ingested.raw, ctx, source.locator)
        weeks[week] = Week(ingested, normalized, aggregate(normalized.venue_volume, ctx))
    ctx = context(LAST_WEEK)
    summaries = pa.concat_tables(w.aggregated.symbol_summary for w in weeks.values())
    rolling = rolling_6w(summaries, WEEKS, ctx)
    last = weeks[LAST_WEEK]
    checks = pa.concat_tables([last.aggregated.checks, rolling.checks])
    snapshot = research_snapshot(
        last.aggregated.symbol_summary, last.normalized.venue_volume, rolling.rolling, checks, ctx
    )
    return Run(weeks, rolling, snapshot)


def rows(table: pa.Table, expected: list[dict]) -> list[dict]:
    """The table's rows restricted to the columns the golden rows name."""
    return table.select(list(expected[0])).to_pylist()


def test_symbol_summary_matches_golden(run):
    summary = pa.concat_tables(w.aggregated.symbol_summary for w in run.weeks.values())
    assert rows(summary, golden.SYMBOL_SUMMARY) == golden.SYMBOL_SUMMARY


def test_venue_share_matches_golden(run):
    share = pa.concat_tables(w.aggregated.venue_share for w in run.weeks.values())
    assert rows(share, golden.VENUE_SHARE) == golden.VENUE_SHARE


def test_row_level_avg_trade_size_ties_round_half_up(run):
    found = []
    for tie in golden.ROW_AVG_TRADE_SIZE_TIES:
        venue_volume = run.weeks[tie["week_ending"]].normalized.venue_volume
        found += [
            r for r in rows(venue_volume, golden.ROW_AVG_TRADE_SIZE_TIES)
            if (r["symbol"], r["mpid"]) == (tie["symbol"], tie["mpid"])
        ]
    assert found == golden.ROW_AVG_TRADE_SIZE_TIES


def test_rolling_for_last_week_matches_golden(run):
    assert rows(run.rolling.rolling, golden.ROLLING_2025_12_26) == golden.ROLLING_2025_12_26


def test_rolling_rows_carry_last_week_and_version(run):
    rolling = run.rolling.rolling
    assert set(rolling["week_ending"].to_pylist()) == {LAST_WEEK}
    assert set(rolling["tier"].to_pylist()) == {"NMS_TIER_1"}
    assert set(rolling["rolling_version"].to_pylist()) == {"v1.0.0"}


def test_snapshot_for_last_week_matches_golden(run):
    assert rows(run.snapshot, golden.SNAPSHOT_2025_12_26) == golden.SNAPSHOT_2025_12_26


def test_only_reject_is_the_invalid_symbol_line(run):
    rejects = pa.concat_tables(
        t for w in run.weeks.values() for t in (w.ingested.rejects, w.normalized.rejects)
    )
    assert rows(rejects, golden.REJECTS) == golden.REJECTS


def test_backfill_totals_match_golden(run):
    weeks = run.weeks.values()
    metrics = {
        "weeks_requested": len(WEEKS),
        "weeks_processed": sum(1 for w in weeks if w.ingested.counts.inserted > 0),
        "total_raw_lines": sum(w.ingested.counts.raw for w in weeks),
        "total_ingested": sum(w.ingested.counts.inserted for w in weeks),
        "total_normalized": sum(w.normalized.accepted for w in weeks),
        "total_rejected": sum(w.ingested.counts.rejected + w.normalized.rejected for w in weeks),
        "total_skipped": sum(w.ingested.counts.skipped for w in weeks),
    }
    assert metrics == golden.BACKFILL_METRICS
    assert (metrics["total_ingested"], metrics["total_normalized"], metrics["total_rejected"]) == (72, 71, 1)


def test_raw_lines_equal_normalized_plus_rejected_plus_skipped(run):
    for week in run.weeks.values():
        counts = week.ingested.counts
        assert counts.raw == counts.parsed + counts.rejected
        assert counts.parsed == counts.inserted + counts.skipped
        assert counts.raw == week.normalized.accepted + counts.rejected + week.normalized.rejected + counts.skipped


def test_market_share_sums_are_the_documented_ones_and_pass(run):
    sums = {}
    for week, result in run.weeks.items():
        (check,) = [r for r in result.aggregated.checks.to_pylist() if r["check_name"] == "market_share_sum_100"]
        sums[week] = (check["status"], Decimal(check["check_value"]))
    assert sums == {
        dt.date(2025, 11, 21): ("PASS", Decimal("100.0000")),
        dt.date(2025, 11, 28): ("PASS", Decimal("100.0000")),
        dt.date(2025, 12, 5): ("PASS", Decimal("99.9999")),
        dt.date(2025, 12, 12): ("PASS", Decimal("100.0000")),
        dt.date(2025, 12, 19): ("PASS", Decimal("100.0001")),
        dt.date(2025, 12, 26): ("PASS", Decimal("100.0000")),
    }


def test_every_check_of_the_last_week_passes(run):
    checks = pa.concat_tables([run.weeks[LAST_WEEK].aggregated.checks, run.rolling.checks])
    statuses = {r["check_name"]: r["status"] for r in checks.to_pylist()}
    assert statuses == {
        "no_negative_volumes": "PASS",
        "no_negative_trades": "PASS",
        "market_share_sum_100": "PASS",
        "no_duplicate_symbols": "PASS",
        "symbol_count_positive": "PASS",
        "venue_count_positive": "PASS",
        "rolling_window_complete": "PASS",
        "no_zero_rolling_volume": "PASS",
    }
    (complete,) = [r for r in checks.to_pylist() if r["check_name"] == "rolling_window_complete"]
    assert complete["check_value"] == "5/5 (100.0%)"
