"""The end of a backfill: its outcome per week, its metrics, the batch file and the summary block."""

from __future__ import annotations

import dataclasses
from typing import Any

from otc.layout import Layout, Stage
from otc.lineage import BACKFILL_PIPELINE, Batch, Execution, ExecutionStatus, utc_now
from otc.manifest import load_records, write_manifest
from otc.params import BackfillParams
from otc.store import write_json

WEEK_STAGES = (Stage.INGEST, Stage.NORMALIZE, Stage.AGGREGATE)


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """What the backfill set out to do, decided when its tasks were generated."""

    params: BackfillParams
    batch: Batch
    missing: dict[str, str]  # week -> why it has no tasks (e.g. "Source file not found: ...")
    rolling_planned: bool
    snapshot_planned: bool
    unplanned: dict[str, str] = dataclasses.field(default_factory=dict)  # stage -> why it cannot run


@dataclasses.dataclass(frozen=True)
class BatchOutcome:
    status: str
    metrics: dict[str, Any]
    document: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.status == ExecutionStatus.COMPLETED


def finish_batch(plan: BatchPlan) -> BatchOutcome:
    """Read the stage records, write the batch file and the manifest, and return the outcome."""
    params, batch = plan.params, plan.batch
    layout = Layout(params.build_dir)
    records = load_records(layout)
    tier = params.tier.value
    weeks_out, errors = [], []
    totals = dict(raw=0, inserted=0, normalized=0, rejected=0, skipped=0)
    ran, up_to_date, executions = [], [], []
    processed = 0

    def ran_now(record: dict[str, Any]) -> bool:
        return record.get("backfill_execution_id") == batch.execution_id

    def note(record: dict[str, Any], name: str) -> None:
        if ran_now(record):
            ran.append(name)
            executions.append(record["execution"])
        else:
            up_to_date.append(name)

    for week in params.weeks:
        key = week.isoformat()
        week_records = records.get((tier, key), {})
        outcome: dict[str, Any] = {"week_ending": key, "stage": "PENDING", "ran": [], "up_to_date": []}
        if key in plan.missing:
            outcome["error"] = plan.missing[key]
            errors.append(f"{key}: {plan.missing[key]}")
            weeks_out.append(outcome)
            continue
        error = None
        for stage in WEEK_STAGES:
            record = week_records.get(stage)
            if record is None:
                error = error or f"{stage.value} did not run"
                break
            note(record, f"{stage.value}:{tier}:{key}")
            outcome["ran" if ran_now(record) else "up_to_date"].append(stage.value)
            if record["execution"]["status"] != ExecutionStatus.COMPLETED:
                error = error or record["execution"]["error"]
                continue
            outcome["stage"] = stage.reached
        ingest_counts = week_records.get(Stage.INGEST, {}).get("counts", {})
        normalize_counts = week_records.get(Stage.NORMALIZE, {}).get("counts", {})
        outcome["counts"] = {
            "raw_lines": ingest_counts.get("raw", 0),
            "ingested": ingest_counts.get("inserted", 0),
            "normalized": normalize_counts.get("accepted", 0),
            "rejected": ingest_counts.get("rejected", 0) + normalize_counts.get("rejected", 0),
            "skipped": ingest_counts.get("skipped", 0),
        }
        if error:
            outcome["error"] = error
            errors.append(f"{key}: {error}")
        if outcome["stage"] == Stage.AGGREGATE.reached:
            processed += 1
            # totals cover processed weeks, so raw lines = normalized + rejected + skipped holds
            for name, value in outcome["counts"].items():
                totals[{"raw_lines": "raw", "ingested": "inserted"}.get(name, name)] += value
        weeks_out.append(outcome)

    window_outcomes = {}
    last = (tier, params.end_week.isoformat())
    for stage, planned in ((Stage.ROLLING, plan.rolling_planned), (Stage.SNAPSHOT, plan.snapshot_planned)):
        record = records.get(last, {}).get(stage) if planned else None
        if plan.unplanned.get(stage.value):
            errors.append(f"{stage.value.capitalize()}: {plan.unplanned[stage.value]}")
        done = record is not None and record["execution"]["status"] == ExecutionStatus.COMPLETED
        window_outcomes[stage] = {"planned": planned, "completed": done,
                                  "execution_id": record["execution"]["execution_id"] if record else None,
                                  "error": record["execution"]["error"] if record else None}
        if record is not None:
            note(record, f"{stage.value}:{tier}:{last[1]}")
            if not done:
                errors.append(f"{stage.value.capitalize()}: {record['execution']['error']}")

    status = ExecutionStatus.COMPLETED if processed > 0 else ExecutionStatus.FAILED
    metrics = {
        "batch_id": batch.batch_id,
        "tier": tier,
        "weeks_requested": len(params.weeks),
        "weeks_processed": processed,
        "total_ingested": totals["inserted"],
        "total_normalized": totals["normalized"],
        "total_rejected": totals["rejected"],
        "rolling_computed": window_outcomes[Stage.ROLLING]["completed"],
        "snapshot_built": window_outcomes[Stage.SNAPSHOT]["completed"],
        "errors": errors,
        "total_raw_lines": totals["raw"],
        "total_skipped": totals["skipped"],
        "stages_run": len(ran),
        "stages_up_to_date": len(up_to_date),
    }
    finished = utc_now()
    root = Execution(
        execution_id=batch.execution_id, pipeline_name=BACKFILL_PIPELINE, params=params.as_dict(),
        parent_execution_id=None, batch_id=batch.batch_id, status=status,
        started_at=batch.started_at.isoformat(), finished_at=finished.isoformat(),
        metrics=metrics, error="; ".join(errors) or None,
    )
    document = {
        "batch_id": batch.batch_id,
        "pipeline_name": BACKFILL_PIPELINE,
        "params": params.as_dict(),
        "weeks": [w.isoformat() for w in params.weeks],
        "status": status,
        "started_at": batch.started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "week_outcomes": weeks_out,
        "rolling": window_outcomes[Stage.ROLLING],
        "snapshot": window_outcomes[Stage.SNAPSHOT],
        "stages_run": ran,
        "stages_up_to_date": up_to_date,
        "metrics": metrics,
        "executions": [root.as_dict(), *sorted(executions, key=lambda e: e["started_at"])],
    }
    write_json(document, layout.batch_file(batch.batch_id))
    write_manifest(layout)
    return BatchOutcome(status, metrics, document)


def summary_block(outcome: BatchOutcome) -> str:
    """The seed's closing block, plus raw-line, skipped and stage counts."""
    lines = [f"Pipeline: {BACKFILL_PIPELINE}", f"Status: {outcome.status}", "Metrics:"]
    for name, value in outcome.metrics.items():
        if name == "errors":
            lines.append("  errors: []" if not value else "  errors:")
            lines.extend(f"    - {e}" for e in value)
        elif isinstance(value, bool):
            lines.append(f"  {name}: {'true' if value else 'false'}")
        else:
            lines.append(f"  {name}: {value}")
    return "\n".join(lines)
