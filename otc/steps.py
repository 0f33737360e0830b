"""Running one stage against the build directory: read inputs, call the pure stage function,
write its tables and then its record (the record is written last: it marks completion)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from otc import failpoints
from otc.aggregate import INPUT_COLUMNS as AGGREGATE_INPUT_COLUMNS
from otc.aggregate import aggregate
from otc.context import StageContext
from otc.errors import OtcError
from otc.ingest import ingest
from otc.layout import STAGE_TABLES, Layout, Stage
from otc.lineage import Batch, Execution, ExecutionStatus, new_execution_id, utc_now
from otc.manifest import completed
from otc.normalize import INPUT_COLUMNS as NORMALIZE_INPUT_COLUMNS
from otc.normalize import normalize
from otc.rolling import INPUT_COLUMNS as ROLLING_INPUT_COLUMNS
from otc.rolling import rolling_6w
from otc.schemas import Table, empty
from otc.snapshot import VENUE_COLUMNS, research_snapshot
from otc.sources import read_source
from otc.store import read_json, read_table, write_json, write_tables
from otc.tiers import Tier


class UpstreamFailed(OtcError):
    """The stage's input was not produced because an earlier stage failed."""


@dataclasses.dataclass(frozen=True)
class WeekJob:
    """One tier-week's stage chain: what it reads and where it writes."""

    tier: Tier
    week: dt.date
    layout: Layout
    source_path: Path | None = None
    reject_zero_volume: bool = False


@dataclasses.dataclass(frozen=True)
class WindowJob:
    """Rolling and snapshot for the range's last week."""

    tier: Tier
    week: dt.date
    layout: Layout
    window: tuple[dt.date, ...]
    with_rolling: bool = True


@dataclasses.dataclass
class _Outcome:
    outputs: dict[Table, pa.Table]
    counts: dict[str, int]
    rows: int


Body = Callable[[StageContext, dict[str, Any]], _Outcome]


def run_ingest(job: WeekJob, batch: Batch) -> dict[str, Any]:
    def body(ctx: StageContext, extra: dict[str, Any]) -> _Outcome:
        assert job.source_path is not None
        source = read_source(job.source_path)
        extra["source"] = {
            "source_type": "file", "source_locator": source.locator,
            "source_sha256": source.sha256, "source_bytes": source.size,
        }
        result = ingest(source, ctx)
        extra["source"]["source_format"] = result.source_format.value
        counts = dataclasses.asdict(result.counts)
        return _Outcome({Table.RAW: result.raw, Table.REJECTS: result.rejects}, counts, result.counts.inserted)

    params = {"tier": job.tier.value, "week_ending": job.week.isoformat(), "file_path": str(job.source_path)}
    return _execute(Stage.INGEST, job.tier, job.week, job.layout, batch, batch.execution_id, params, body)


def run_normalize(job: WeekJob, batch: Batch) -> dict[str, Any]:
    upstream = read_record(job.layout, Stage.INGEST, job.tier, job.week)

    def body(ctx: StageContext, extra: dict[str, Any]) -> _Outcome:
        _require_completed(upstream)
        raw = read_table(job.layout.table_file(Table.RAW, job.tier, job.week, Stage.INGEST), Table.RAW,
                         columns=NORMALIZE_INPUT_COLUMNS)
        locator = upstream["source"]["source_locator"]
        result = normalize(raw, ctx, locator, job.reject_zero_volume)
        outputs = {
            Table.VENUE_VOLUME: result.venue_volume,
            Table.NORMALIZATION_MAP: result.normalization_map,
            Table.REJECTS: result.rejects,
        }
        return _Outcome(outputs, {"accepted": result.accepted, "rejected": result.rejected}, result.accepted)

    params = {"tier": job.tier.value, "week_ending": job.week.isoformat(),
              "reject_zero_volume": job.reject_zero_volume}
    return _execute(Stage.NORMALIZE, job.tier, job.week, job.layout, batch,
                    _execution_id(upstream, batch), params, body)


def run_aggregate(job: WeekJob, batch: Batch) -> dict[str, Any]:
    upstream = read_record(job.layout, Stage.NORMALIZE, job.tier, job.week)

    def body(ctx: StageContext, extra: dict[str, Any]) -> _Outcome:
        _require_completed(upstream)
        venue_volume = read_table(
            job.layout.table_file(Table.VENUE_VOLUME, job.tier, job.week, Stage.NORMALIZE), Table.VENUE_VOLUME,
            columns=AGGREGATE_INPUT_COLUMNS, dictionary=("symbol", "mpid"),
        )
        result = aggregate(venue_volume, ctx)
        outputs = {
            Table.SYMBOL_SUMMARY: result.symbol_summary,
            Table.VENUE_SHARE: result.venue_share,
            Table.QUALITY_CHECKS: result.checks,
        }
        counts = {"symbols": result.symbol_summary.num_rows, "venues": result.venue_share.num_rows}
        return _Outcome(outputs, counts, result.symbol_summary.num_rows)

    params = {"tier": job.tier.value, "week_ending": job.week.isoformat()}
    return _execute(Stage.AGGREGATE, job.tier, job.week, job.layout, batch,
                    _execution_id(upstream, batch), params, body)


def run_rolling(job: WindowJob, batch: Batch) -> dict[str, Any]:
    def body(ctx: StageContext, extra: dict[str, Any]) -> _Outcome:
        weeks_read = [w for w in job.window if completed_summary(job.layout, job.tier, w)]
        extra["weeks_read"] = [w.isoformat() for w in weeks_read]
        if not weeks_read:
            raise OtcError(f"No weekly summary in the 6-week window ending {job.week}")
        summaries = pa.concat_tables(
            read_table(job.layout.table_file(Table.SYMBOL_SUMMARY, job.tier, w, Stage.AGGREGATE),
                       Table.SYMBOL_SUMMARY, columns=ROLLING_INPUT_COLUMNS)
            for w in weeks_read
        )
        result = rolling_6w(summaries, list(job.window), ctx)
        outputs = {Table.ROLLING_6W: result.rolling, Table.QUALITY_CHECKS: result.checks}
        counts = {"symbols": result.rolling.num_rows, "weeks_read": len(weeks_read)}
        return _Outcome(outputs, counts, result.rolling.num_rows)

    params = {"tier": job.tier.value, "week_ending": job.week.isoformat(),
              "window": [w.isoformat() for w in job.window]}
    return _execute(Stage.ROLLING, job.tier, job.week, job.layout, batch, batch.execution_id, params, body)


def run_snapshot(job: WindowJob, batch: Batch) -> dict[str, Any]:
    layout, tier, week = job.layout, job.tier, job.week
    rolling_record = read_record(layout, Stage.ROLLING, tier, week) if job.with_rolling else None

    def body(ctx: StageContext, extra: dict[str, Any]) -> _Outcome:
        if not completed_summary(layout, tier, week):
            raise UpstreamFailed(f"No completed summary for {week}: its week did not aggregate")
        summary = read_table(layout.table_file(Table.SYMBOL_SUMMARY, tier, week, Stage.AGGREGATE), Table.SYMBOL_SUMMARY)
        venue_volume = read_table(layout.table_file(Table.VENUE_VOLUME, tier, week, Stage.NORMALIZE),
                                  Table.VENUE_VOLUME, columns=VENUE_COLUMNS, dictionary=("symbol", "mpid"))
        checks = [read_table(layout.table_file(Table.QUALITY_CHECKS, tier, week, Stage.AGGREGATE), Table.QUALITY_CHECKS)]
        rolling = None
        if completed(rolling_record):
            rolling = read_table(layout.table_file(Table.ROLLING_6W, tier, week, Stage.ROLLING), Table.ROLLING_6W)
            checks.append(read_table(layout.table_file(Table.QUALITY_CHECKS, tier, week, Stage.ROLLING),
                                     Table.QUALITY_CHECKS))
        snapshot = research_snapshot(summary, venue_volume, rolling, pa.concat_tables(checks), ctx)
        return _Outcome({Table.RESEARCH_SNAPSHOT: snapshot}, {"symbols": snapshot.num_rows}, snapshot.num_rows)

    params = {"tier": tier.value, "week_ending": week.isoformat(), "with_rolling": job.with_rolling}
    parent = _execution_id(rolling_record, batch) if job.with_rolling else batch.execution_id
    return _execute(Stage.SNAPSHOT, tier, week, layout, batch, parent, params, body)


def completed_summary(layout: Layout, tier: Tier, week: dt.date) -> bool:
    """True when the week's aggregate ran to completion, so its summary can be trusted."""
    record = read_record(layout, Stage.AGGREGATE, tier, week)
    return completed(record)


def read_record(layout: Layout, stage: Stage, tier: Tier, week: dt.date) -> dict[str, Any] | None:
    path = layout.record_file(stage, tier, week)
    return read_json(path) if path.exists() else None


def _share_cores() -> None:
    """In a worker process of `doit -n N -P process` the other workers keep the other cores
    busy: Arrow's thread pool, and with it our Parquet writers, keep to one core."""
    if multiprocessing.parent_process() is not None and pa.cpu_count() > 1:
        pa.set_cpu_count(1)


def _execute(
    stage: Stage, tier: Tier, week: dt.date, layout: Layout, batch: Batch,
    parent_id: str | None, params: dict[str, Any], body: Body,
) -> dict[str, Any]:
    failpoints.reach(f"{stage.value}:{tier.value}:{week.isoformat()}")
    _share_cores()
    started = utc_now()
    clock = time.perf_counter()
    ctx = StageContext(tier, week, new_execution_id(), batch.batch_id, started)
    extra: dict[str, Any] = {}
    try:
        outcome = body(ctx, extra)
        error = None
    except OtcError as exc:
        outcome = _Outcome({t: empty(t) for t in STAGE_TABLES[stage]}, {}, 0)
        error = str(exc)
    write_tables({path: outcome.outputs[table] for table, path in layout.outputs(stage, tier, week).items()})
    seconds = time.perf_counter() - clock
    execution = Execution(
        execution_id=ctx.execution_id,
        pipeline_name=stage.pipeline_name,
        params=params,
        parent_execution_id=parent_id,
        batch_id=batch.batch_id,
        status=ExecutionStatus.FAILED if error else ExecutionStatus.COMPLETED,
        started_at=started.isoformat(),
        finished_at=utc_now().isoformat(),
        metrics={**outcome.counts, "seconds": round(seconds, 6)},
        error=error,
    )
    record = {
        "stage": stage.value, "tier": tier.value, "week_ending": week.isoformat(),
        "backfill_execution_id": batch.execution_id,
        "execution": execution.as_dict(), **extra, "counts": outcome.counts,
    }
    write_json(record, layout.record_file(stage, tier, week))
    return {
        "stage": stage.value, "tier": tier.value, "week_ending": week.isoformat(),
        "rows": outcome.rows, "seconds": round(seconds, 3), "error": error,
    }


def _require_completed(record: dict[str, Any] | None) -> None:
    if record is None:
        raise UpstreamFailed("Upstream stage has no record")
    execution = record["execution"]
    if execution["status"] != ExecutionStatus.COMPLETED:
        name = record["stage"]
        raise UpstreamFailed(f"Not run: {name} failed")


def _execution_id(record: dict[str, Any] | None, batch: Batch) -> str:
    return record["execution"]["execution_id"] if record else batch.execution_id
