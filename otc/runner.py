"""Running one declared stage against the build directory: read its inputs, call its function,
write its tables and files, then its record (written last: it marks completion)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from otc import failpoints
from otc.context import StageContext
from otc.errors import OtcError, UpstreamFailed
from otc.layout import Layout, Stage
from otc.lineage import Batch, Execution, ExecutionStatus, new_execution_id, utc_now
from otc.manifest import completed
from otc.schemas import empty
from otc.stage import Artifact, Inputs, Options, Result, StageSpec
from otc.report_page import failure_page
from otc.store import file_identity, read_json, read_tables, write_bytes, write_json, write_tables
from otc.tiers import Tier
from otc.weeks import WINDOW_WEEKS, weeks_back


@dataclasses.dataclass(frozen=True)
class StageJob:
    """One tier-week of a stage: where it reads and writes, and the options it runs with."""

    tier: Tier
    week: dt.date
    layout: Layout
    options: Options = Options()
    source_path: Path | None = None
    finra_url: str | None = None  # FINRA's base URL, for a week to fetch

    def artifact_path(self, artifact: Artifact) -> Path:
        if artifact is Artifact.SOURCE:
            assert self.source_path is not None
            return self.source_path
        return self.layout.report_file(self.tier, self.week)

    def span(self, weeks: int) -> list[dt.date]:
        """The `weeks` Fridays ending at this job's week, oldest first."""
        return weeks_back(weeks, self.week)


def run_stage(spec: StageSpec, job: StageJob, batch: Batch) -> dict[str, Any]:
    """Run `spec` for `job`; a failure users can cause is recorded (empty tables, FAILED record),
    not raised, so the other weeks go on. Returns the values doit keeps for the reporter."""
    layout, tier, week = job.layout, job.tier, job.week
    failpoints.reach(f"{spec.stage.value}:{tier.value}:{week.isoformat()}")
    _share_cores()
    started = utc_now()
    clock = time.perf_counter()
    ctx = StageContext(tier, week, new_execution_id(), batch.batch_id, started)
    records = _upstream_records(spec, job)
    parent = records.get(spec.parent) if spec.parent else None
    if spec.reads_source and completed(parent):
        parent = None  # a fetch is the parent only of an ingest of its very bytes (below)
    try:
        result = spec.compute(_read_inputs(spec, job, records), ctx)
        if spec.reads_source:
            parent = _source_lineage(result, records.get(Stage.FETCH))
        error = None
    except OtcError as exc:
        error = str(exc)
        # a page that says why, so a failed report is not left stale nor re-run for nothing
        files = {a: failure_page(tier, week, error) for a in spec.artifacts if a is Artifact.REPORT}
        result = Result({t: empty(t) for t in spec.writes}, {}, 0, files=files)
    write_tables({path: result.tables[table]
                  for table, path in layout.table_files(spec.writes, spec.stage, tier, week).items()})
    for artifact, content in result.files.items():
        write_bytes(content, job.artifact_path(artifact))
    seconds = time.perf_counter() - clock
    execution = Execution(
        execution_id=ctx.execution_id,
        pipeline_name=spec.pipeline_name,
        params=_params(spec, job),
        parent_execution_id=parent["execution"]["execution_id"] if parent else batch.execution_id,
        batch_id=batch.batch_id,
        status=ExecutionStatus.FAILED if error else ExecutionStatus.COMPLETED,
        started_at=started.isoformat(),
        finished_at=utc_now().isoformat(),
        metrics={**result.counts, "seconds": round(seconds, 6)},
        error=error,
    )
    record = {
        "stage": spec.stage.value, "tier": tier.value, "week_ending": week.isoformat(),
        "backfill_execution_id": batch.execution_id,
        "execution": execution.as_dict(), **result.extra, "counts": result.counts,
    }
    write_json(record, layout.record_file(spec.stage, tier, week))
    return {
        "stage": spec.stage.value, "tier": tier.value, "week_ending": week.isoformat(),
        "rows": result.rows, "unit": spec.counts_what, "seconds": round(seconds, 3), "error": error,
    }


def read_record(layout: Layout, stage: Stage, tier: Tier, week: dt.date) -> dict[str, Any] | None:
    path = layout.record_file(stage, tier, week)
    return read_json(path) if path.exists() else None


def active_reads(spec: StageSpec, options: Options):
    """The reads of `spec` that its options switch on."""
    return [read for read in spec.reads if read.when is None or getattr(options, read.when)]


def _upstream_records(spec: StageSpec, job: StageJob) -> dict[Stage, dict[str, Any] | None]:
    """The own-week records of the stages `spec` reads (and of fetch, for the source)."""
    stages = {read.stage for read in active_reads(spec, job.options) if read.weeks == 1}
    if spec.reads_source:
        stages.add(Stage.FETCH)
    return {stage: read_record(job.layout, stage, job.tier, job.week) for stage in stages}


def _read_inputs(spec: StageSpec, job: StageJob, records: dict[Stage, dict[str, Any] | None]) -> Inputs:
    layout, tier = job.layout, job.tier
    tables: dict[str, pa.Table | None] = {read.name: None for read in spec.reads}
    weeks_read: dict[str, tuple[dt.date, ...]] = {}
    for read in active_reads(spec, job.options):
        if read.weeks == 1:
            record = records[read.stage]
            if not completed(record):
                if read.required:
                    raise UpstreamFailed(_not_run(read.stage, job.week, record))
                continue
            weeks = [job.week]
        else:
            weeks = [w for w in job.span(read.weeks)
                     if _SPAN_RECORDS.completed(layout.record_file(read.stage, tier, w))]
        weeks_read[read.name] = tuple(weeks)
        if weeks:
            tables[read.name] = read_tables([layout.table_file(read.table, tier, w, read.stage) for w in weeks],
                                            read.table, columns=list(read.columns) if read.columns else None,
                                            dictionary=read.dictionary)
    if spec.reads_source:
        assert job.source_path is not None
        fetch = records.get(Stage.FETCH)
        if not job.source_path.exists() and fetch is not None and not completed(fetch):
            raise UpstreamFailed("Not run: fetch failed")
    return Inputs(tables, records, weeks_read, job.source_path, job.options, job.finra_url, layout.cache_dir)


class _CompletedRecords:
    """Whether a record says its stage completed, remembered by the record file's identity: the
    weeks of a span are checked again by every window that holds them (six for rolling, 26
    for a report), and a record is rewritten only when its stage runs again."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[tuple[int, int, int, int], bool]] = {}

    def completed(self, path: Path) -> bool:
        try:
            identity = file_identity(path)
        except FileNotFoundError:
            return False
        known = self.known.get(str(path))
        if known is None or known[0] != identity:
            known = self.known[str(path)] = (identity, completed(read_json(path)))
        return known[1]


_SPAN_RECORDS = _CompletedRecords()


def _not_run(stage: Stage, week: dt.date, record: dict[str, Any] | None) -> str:
    if record is None:
        return f"Not run: {stage.value} of {week} has no record"
    return f"Not run: {stage.value} failed"


def _source_lineage(result: Result, fetch: dict[str, Any] | None) -> dict[str, Any] | None:
    """Mark the source as FINRA's when the fetch record describes these very bytes; that fetch
    is then the ingest's parent."""
    source = result.extra["source"]
    fetched = completed(fetch) and fetch.get("fetch", {}).get("sha256") == source["source_sha256"]
    result.extra["source"] = {"source_type": "finra_api" if fetched else "file", **source}
    return fetch if fetched else None


def _params(spec: StageSpec, job: StageJob) -> dict[str, Any]:
    params: dict[str, Any] = {"tier": job.tier.value, "week_ending": job.week.isoformat()}
    if spec.reads_source:
        params["file_path"] = str(job.source_path)
    for read in spec.reads:
        if read.weeks == WINDOW_WEEKS:
            params["window"] = [w.isoformat() for w in job.span(read.weeks)]
        elif read.weeks > 1:  # a longer span (the report's history): its first and last week
            span = job.span(read.weeks)
            params[read.name] = [span[0].isoformat(), span[-1].isoformat()]
    return {**params, **job.options.pick(spec.options)}


def _share_cores() -> None:
    """In a worker process of `doit -n N -P process` the other workers keep the other cores
    busy: Arrow's thread pool, and with it our Parquet writers, keep to one core."""
    if multiprocessing.parent_process() is not None and pa.cpu_count() > 1:
        pa.set_cpu_count(1)
