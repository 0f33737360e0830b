"""The stages of a backfill, each declared once: what it reads and writes, and its function.

Each `_compute_*` only adapts a declaration's named inputs to its stage's pure function
(`otc.ingest.ingest`, `otc.normalize.normalize`, ...) and names the tables it returns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from otc import aggregate, ingest, normalize, report_model, rolling, snapshot
from otc.context import StageContext
from otc.errors import OtcError
from otc.layout import Stage
from otc.lineage import PipelineName
from otc.manifest import week_counts
from otc.schemas import CALCULATION_VERSION, INGEST_VERSION, ROLLING_VERSION, SNAPSHOT_VERSION, Table
from otc.slots import FileSlots
from otc.sources import read_source
from otc.stage import Artifact, Inputs, Options, Read, Result, StageSpec
from otc.weeks import HISTORY_WEEKS, WINDOW_WEEKS, rolling_window


def _compute_fetch(inputs: Inputs, ctx: StageContext) -> Result:
    from otc import finra  # the HTTP client is imported only by runs that fetch

    assert inputs.finra_url is not None and inputs.source_path is not None
    assert inputs.cache_dir is not None
    slots = FileSlots(inputs.cache_dir / "finra_slots", finra.MAX_IN_FLIGHT)
    with finra.FinraClient(inputs.finra_url, user_agent=finra.user_agent(), slots=slots.hold) as client:
        download = client.download_week(ctx.tier, ctx.week)
    record = {
        "url": download.url, "request_body": download.request_body, "pages": download.pages,
        "rows": download.rows, "bytes": download.bytes, "sha256": download.sha256,
        "seconds": round(download.seconds, 6), "fetched_at": ctx.now.isoformat(),
        "path": str(inputs.source_path),
    }
    return Result({}, {"pages": download.pages, "rows": download.rows}, download.rows,
                  files={Artifact.SOURCE: download.content}, extra={"fetch": record})


def reject_counts(rejects: pa.Table) -> dict[str, int]:
    """Rows per reject reason code, kept in the stage's record for the run's summary."""
    counts = pc.value_counts(rejects["reason_code"]) if rejects.num_rows else []
    return {item["values"].as_py(): item["counts"].as_py() for item in counts}


def check_outcome(checks: pa.Table) -> dict[str, list[str]]:
    """The names of the checks at each status, kept in the stage's record for the run's summary."""
    outcome: dict[str, list[str]] = {}
    for name, status in zip(checks["check_name"].to_pylist(), checks["status"].to_pylist()):
        outcome.setdefault(status, []).append(name)
    return outcome


def _compute_ingest(inputs: Inputs, ctx: StageContext) -> Result:
    assert inputs.source_path is not None
    source = read_source(inputs.source_path)
    result = ingest.ingest(source, ctx)
    counts = dataclasses.asdict(result.counts)
    identity = {"source_locator": source.locator, "source_sha256": source.sha256, "source_bytes": source.size,
                "source_format": result.source_format.value}
    return Result({Table.RAW: result.raw, Table.REJECTS: result.rejects}, counts, result.counts.inserted,
                  extra={"source": identity, "rejects_by_reason": reject_counts(result.rejects)})


def _compute_normalize(inputs: Inputs, ctx: StageContext) -> Result:
    ingest_record = inputs.records[Stage.INGEST]
    assert ingest_record is not None
    locator = ingest_record["source"]["source_locator"]
    result = normalize.normalize(inputs["raw"], ctx, locator, inputs.options.reject_zero_volume)
    tables = {Table.VENUE_VOLUME: result.venue_volume, Table.NORMALIZATION_MAP: result.normalization_map,
              Table.REJECTS: result.rejects}
    return Result(tables, {"accepted": result.accepted, "rejected": result.rejected}, result.accepted,
                  extra={"rejects_by_reason": reject_counts(result.rejects)})


def _compute_aggregate(inputs: Inputs, ctx: StageContext) -> Result:
    result = aggregate.aggregate(inputs["venue_volume"], ctx)
    tables = {Table.SYMBOL_SUMMARY: result.symbol_summary, Table.VENUE_SHARE: result.venue_share,
              Table.QUALITY_CHECKS: result.checks}
    counts = {"symbols": result.symbol_summary.num_rows, "venues": result.venue_share.num_rows}
    return Result(tables, counts, result.symbol_summary.num_rows, extra={"checks": check_outcome(result.checks)})


def _compute_rolling(inputs: Inputs, ctx: StageContext) -> Result:
    weeks_read = inputs.weeks_read.get("summaries", ())
    if not weeks_read:
        raise OtcError(f"No weekly summary in the {WINDOW_WEEKS}-week window ending {ctx.week}")
    result = rolling.rolling_6w(inputs["summaries"], rolling_window(ctx.week), ctx)
    counts = {"symbols": result.rolling.num_rows, "weeks_read": len(weeks_read)}
    return Result({Table.ROLLING_6W: result.rolling, Table.QUALITY_CHECKS: result.checks}, counts,
                  result.rolling.num_rows, extra={"weeks_read": [w.isoformat() for w in weeks_read],
                                                  "checks": check_outcome(result.checks)})


def _compute_snapshot(inputs: Inputs, ctx: StageContext) -> Result:
    checks = [inputs["checks"]]
    if inputs["rolling"] is not None and inputs["rolling_checks"] is not None:
        checks.append(inputs["rolling_checks"])
    table = snapshot.research_snapshot(inputs["summary"], inputs["venue_volume"], inputs["rolling"],
                                       pa.concat_tables(checks), ctx)
    return Result({Table.RESEARCH_SNAPSHOT: table}, {"symbols": table.num_rows}, table.num_rows)


FETCH = StageSpec(
    stage=Stage.FETCH, pipeline_name=PipelineName.FETCH, version="v1.0.0",
    doc="Download a tier-week from FINRA's Query API into its source file.",
    compute=_compute_fetch, artifacts=(Artifact.SOURCE,), counts_what="rows downloaded",
)
INGEST = StageSpec(
    stage=Stage.INGEST, pipeline_name=PipelineName.INGEST, version=INGEST_VERSION,
    doc="Parse a tier-week's source file into otc_raw and INGEST rejects.",
    compute=_compute_ingest, reads_source=True,
    writes=(Table.RAW, Table.REJECTS),
    parent=Stage.FETCH, counts_what="records",
)
NORMALIZE = StageSpec(
    stage=Stage.NORMALIZE, pipeline_name=PipelineName.NORMALIZE, version=CALCULATION_VERSION,
    doc="Accept or reject each raw record into otc_venue_volume.",
    compute=_compute_normalize,
    reads=(Read("raw", Table.RAW, Stage.INGEST, columns=tuple(normalize.INPUT_COLUMNS)),),
    writes=(Table.VENUE_VOLUME, Table.NORMALIZATION_MAP, Table.REJECTS),
    options=("reject_zero_volume",), parent=Stage.INGEST, counts_what="accepted",
)
AGGREGATE = StageSpec(
    stage=Stage.AGGREGATE, pipeline_name=PipelineName.AGGREGATE, version=CALCULATION_VERSION,
    doc="Summarise a tier-week per symbol and venue, with quality checks.",
    compute=_compute_aggregate,
    reads=(Read("venue_volume", Table.VENUE_VOLUME, Stage.NORMALIZE, columns=tuple(aggregate.INPUT_COLUMNS),
                dictionary=("symbol", "mpid")),),
    writes=(Table.SYMBOL_SUMMARY, Table.VENUE_SHARE, Table.QUALITY_CHECKS),
    parent=Stage.NORMALIZE, counts_what="symbols",
)
ROLLING = StageSpec(
    stage=Stage.ROLLING, pipeline_name=PipelineName.ROLLING, version=ROLLING_VERSION,
    doc="6-week rolling averages and trends for a range end.",
    compute=_compute_rolling,
    reads=(Read("summaries", Table.SYMBOL_SUMMARY, Stage.AGGREGATE, columns=tuple(rolling.INPUT_COLUMNS),
                weeks=WINDOW_WEEKS, required=False),),
    writes=(Table.ROLLING_6W, Table.QUALITY_CHECKS),
    per_range_end=True, skip_flag="skip_rolling", counts_what="symbols",
)
SNAPSHOT = StageSpec(
    stage=Stage.SNAPSHOT, pipeline_name=PipelineName.SNAPSHOT, version=SNAPSHOT_VERSION,
    doc="Research snapshot for a range end.",
    compute=_compute_snapshot,
    reads=(
        Read("summary", Table.SYMBOL_SUMMARY, Stage.AGGREGATE, columns=tuple(snapshot.SUMMARY_COLUMNS)),
        Read("checks", Table.QUALITY_CHECKS, Stage.AGGREGATE, columns=tuple(snapshot.CHECK_STATUS_COLUMNS)),
        Read("venue_volume", Table.VENUE_VOLUME, Stage.NORMALIZE, columns=tuple(snapshot.VENUE_COLUMNS),
             dictionary=("symbol", "mpid")),
        Read("rolling", Table.ROLLING_6W, Stage.ROLLING, columns=tuple(snapshot.ROLLING_COLUMNS), required=False,
             when="with_rolling"),
        Read("rolling_checks", Table.QUALITY_CHECKS, Stage.ROLLING, columns=tuple(snapshot.CHECK_STATUS_COLUMNS),
             required=False, when="with_rolling"),
    ),
    writes=(Table.RESEARCH_SNAPSHOT,),
    options=("with_rolling",), parent=Stage.ROLLING, per_range_end=True, skip_flag="skip_snapshot",
    counts_what="symbols",
)

def _compute_report(inputs: Inputs, ctx: StageContext) -> Result:
    from otc import report  # Jinja2 and the templates: only for runs that draw reports

    snapshot_execution = (inputs.records[Stage.SNAPSHOT] or {})["execution"]
    checks = [t for t in (inputs["checks"], inputs["rolling_checks"]) if t is not None]
    model = report.build_report_model(report.ReportInputs(
        tier=ctx.tier.value, week_ending=ctx.week, batch_id=snapshot_execution["batch_id"],
        built_at=dt.datetime.fromisoformat(snapshot_execution["finished_at"]),
        counts=week_counts(inputs.records),
        snapshot=inputs["snapshot"], venue_share=inputs["venue_share"], checks=pa.concat_tables(checks),
        rejects=pa.concat_tables([inputs["ingest_rejects"], inputs["normalize_rejects"]]),
        rolling=inputs["rolling"], history=inputs["history"],
    ))
    page = report.render_report(model, "..", inputs.cache_dir).encode("utf-8")
    entry = report.IndexEntry.for_report(model, f"{ctx.tier.value}/{ctx.week.isoformat()}.html")
    return Result({}, {"symbols": model.symbol_count, "bytes": len(page)}, model.symbol_count,
                  files={Artifact.REPORT: page}, extra={"index_entry": dataclasses.asdict(entry)})


REPORT = StageSpec(
    stage=Stage.REPORT, pipeline_name=PipelineName.REPORT, version="v1.0.0",
    doc="Research report (HTML) for a range end.",
    compute=_compute_report, artifacts=(Artifact.REPORT,),
    reads=(
        Read("snapshot", Table.RESEARCH_SNAPSHOT, Stage.SNAPSHOT, columns=report_model.SNAPSHOT_COLUMNS),
        Read("venue_share", Table.VENUE_SHARE, Stage.AGGREGATE, columns=report_model.VENUE_SHARE_COLUMNS),
        Read("checks", Table.QUALITY_CHECKS, Stage.AGGREGATE, columns=report_model.CHECK_COLUMNS),
        Read("ingest_rejects", Table.REJECTS, Stage.INGEST, columns=report_model.REJECT_COLUMNS),
        Read("normalize_rejects", Table.REJECTS, Stage.NORMALIZE, columns=report_model.REJECT_COLUMNS),
        Read("rolling", Table.ROLLING_6W, Stage.ROLLING, columns=report_model.ROLLING_COLUMNS, required=False,
             when="with_rolling"),
        Read("rolling_checks", Table.QUALITY_CHECKS, Stage.ROLLING, columns=report_model.CHECK_COLUMNS,
             required=False, when="with_rolling"),
        Read("history", Table.SYMBOL_SUMMARY, Stage.AGGREGATE, columns=report_model.HISTORY_COLUMNS,
             weeks=HISTORY_WEEKS, required=False),
    ),
    parent=Stage.SNAPSHOT, per_range_end=True, skip_flag="skip_report", counts_what="symbols",
)

#: Every stage, in the order a tier-week goes through them.
STAGES: tuple[StageSpec, ...] = (FETCH, INGEST, NORMALIZE, AGGREGATE, ROLLING, SNAPSHOT, REPORT)
SPECS: dict[Stage, StageSpec] = {spec.stage: spec for spec in STAGES}
#: A tier-week's own chain after its source file (fetch runs only for a week to download).
WEEK_CHAIN = tuple(spec for spec in STAGES if not spec.per_range_end and Artifact.SOURCE not in spec.artifacts)
#: What a range end gets, in order.
RANGE_END_STAGES = tuple(spec for spec in STAGES if spec.per_range_end)


def upstream_options(spec: StageSpec) -> tuple[str, ...]:
    """The options that change a stage's results: its own and those of every stage it reads.

    They all go into its task's `uptodate`, so `doit list --status` marks every stage a
    changed option will re-run, not only the first.
    """
    names = set(spec.options)
    for read in spec.reads:
        if read.stage in SPECS:
            names.update(upstream_options(SPECS[read.stage]))
    if spec.reads_source and Stage.FETCH in SPECS:
        names.update(upstream_options(SPECS[Stage.FETCH]))
    return tuple(sorted(names))


__all__ = ["STAGES", "SPECS", "WEEK_CHAIN", "RANGE_END_STAGES", "Options", "upstream_options"]
