"""The end of a backfill: its outcome per week, its metrics, the batch file and the summary block."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from otc.layout import Layout, Stage
from otc.lineage import BACKFILL_PIPELINE, Batch, Execution, ExecutionStatus, utc_now
from otc.manifest import (WEEK_STAGES, ManifestStage, completed, load_records, week_counts, week_stage_reached,
                          write_manifest)
from otc.params import BackfillParams
from otc.schemas import Table
from otc.store import read_json, write_json
from otc.tiers import Tier


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """What the backfill set out to do, decided when its tasks were generated."""

    params: BackfillParams
    batch: Batch
    missing: dict[str, str]  # week -> why it has no tasks (e.g. "Source file not found: ...")
    rolling_planned: bool
    snapshot_planned: bool
    unplanned: dict[str, str] = dataclasses.field(default_factory=dict)  # stage -> why it cannot run
    refreshed: tuple[str, ...] = ()  # window and report tasks besides the last week's rolling and snapshot
    range_reason: str = ""  # how the week range was chosen (as_of=latest)
    fetched: tuple[str, ...] = ()  # weeks this run set out to fetch from FINRA


@dataclasses.dataclass(frozen=True)
class BatchOutcome:
    status: str
    metrics: dict[str, Any]
    document: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.status == ExecutionStatus.COMPLETED

    @property
    def quality_failed(self) -> bool:
        return bool(self.document.get("quality", {}).get("FAIL"))


def finish_batch(plan: BatchPlan) -> BatchOutcome:
    """Read the tier's stage records, write its batch file, and return the outcome."""
    params, batch = plan.params, plan.batch
    layout = Layout(params.build_dir)
    records = load_records(layout, params.tier)
    tier = params.tier.value
    ledger = _Ledger(batch.execution_id)

    weeks_out = [_week_outcome(w.isoformat(), records.get((tier, w.isoformat()), {}), plan, ledger)
                 for w in params.weeks]
    processed = [w for w in weeks_out if w["stage"] == ManifestStage.AGGREGATED]
    # totals cover processed weeks, so raw lines = normalized + rejected + skipped holds
    totals = {name: sum(w["counts"][name] for w in processed) for name in _COUNT_NAMES}
    last = params.end_week.isoformat()
    window_out = {
        stage: _window_outcome(stage, records.get((tier, last), {}), planned, plan, ledger, f"{tier}:{last}")
        for stage, planned in ((Stage.ROLLING, plan.rolling_planned), (Stage.SNAPSHOT, plan.snapshot_planned))
    }
    for name in plan.refreshed:
        stage, _, week = name.split(":")
        record = records.get((tier, week), {}).get(Stage(stage))
        if record is not None:
            ledger.note(record, name)
    errors = [f"{w['week_ending']}: {w['error']}" for w in weeks_out if w.get("error")]
    errors += [f"{stage.value.capitalize()}: {o['error']}" for stage, o in window_out.items() if o["error"]]

    status = ExecutionStatus.COMPLETED if processed else ExecutionStatus.FAILED
    metrics = {
        "batch_id": batch.batch_id,
        "tier": tier,
        "weeks_requested": len(params.weeks),
        "weeks_processed": len(processed),
        "total_ingested": totals["ingested"],
        "total_normalized": totals["normalized"],
        "total_rejected": totals["rejected"],
        "rolling_computed": window_out[Stage.ROLLING]["completed"],
        "snapshot_built": window_out[Stage.SNAPSHOT]["completed"],
        "errors": errors,
        "total_raw_lines": totals["raw_lines"],
        "total_skipped": totals["skipped"],
        "stages_run": len(ledger.ran),
        "stages_up_to_date": len(ledger.up_to_date),
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
        "rolling": window_out[Stage.ROLLING],
        "snapshot": window_out[Stage.SNAPSHOT],
        "stages_run": ledger.ran,
        "stages_up_to_date": ledger.up_to_date,
        "metrics": metrics,
        "executions": [root.as_dict(), *sorted(ledger.executions, key=lambda e: e["started_at"])],
    }
    if plan.range_reason:
        document["range_reason"] = plan.range_reason
    week_records = [records[(tier, w["week_ending"])] for w in processed]
    rolled = [records[(tier, last)][Stage.ROLLING]] if window_out[Stage.ROLLING]["completed"] else []
    document["quality"] = quality_outcome(layout, params.tier, [r[Stage.AGGREGATE] for r in week_records] + rolled)
    document["rejects_by_reason"] = rejects_by_reason(
        layout, params.tier, [r[stage] for r in week_records for stage in (Stage.INGEST, Stage.NORMALIZE)])
    document["reports"] = [str(layout.report_file(params.tier, w)) for w in params.range_ends
                           if completed(records.get((tier, w.isoformat()), {}).get(Stage.REPORT))]
    if params.strict:
        document["strict_failed"] = bool(document["quality"]["FAIL"])
    write_json(document, layout.batch_file(batch.batch_id))
    return BatchOutcome(status, metrics, document)


_COUNT_NAMES = ("raw_lines", "ingested", "normalized", "rejected", "skipped")


@dataclasses.dataclass
class _Ledger:
    """Which stages this run executed (and their executions) and which were up to date."""

    run_execution_id: str
    ran: list[str] = dataclasses.field(default_factory=list)
    up_to_date: list[str] = dataclasses.field(default_factory=list)
    executions: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def note(self, record: dict[str, Any], name: str) -> bool:
        """Record a stage; True when this run executed it."""
        if record.get("backfill_execution_id") == self.run_execution_id:
            self.ran.append(name)
            self.executions.append(record["execution"])
            return True
        self.up_to_date.append(name)
        return False


def _week_outcome(
    week: str, records: dict[Stage, dict[str, Any]], plan: BatchPlan, ledger: _Ledger
) -> dict[str, Any]:
    """Stage reached, counts, stages run or up to date, and the first error of one week."""
    outcome: dict[str, Any] = {"week_ending": week, "stage": "PENDING", "ran": [], "up_to_date": [],
                               "counts": dict.fromkeys(_COUNT_NAMES, 0)}
    if week in plan.missing:
        outcome["error"] = plan.missing[week]
        return outcome
    error = None
    if week in plan.fetched and Stage.FETCH in records:
        fetch = records[Stage.FETCH]
        outcome["ran" if ledger.note(fetch, f"fetch:{plan.params.tier.value}:{week}") else "up_to_date"].append("fetch")
        error = fetch["execution"]["error"]
    for stage in WEEK_STAGES:
        record = records.get(stage)
        if record is None:
            error = error or f"{stage.value} did not run"
            break
        ran = ledger.note(record, f"{stage.value}:{plan.params.tier.value}:{week}")
        outcome["ran" if ran else "up_to_date"].append(stage.value)
        if record["execution"]["status"] != ExecutionStatus.COMPLETED:
            error = error or record["execution"]["error"]
    outcome["stage"] = week_stage_reached(records)
    counts = week_counts(records)
    outcome["counts"] = {name: counts[name] for name in _COUNT_NAMES}
    if error:
        outcome["error"] = error
    return outcome


def _window_outcome(
    stage: Stage, records: dict[Stage, dict[str, Any]], planned: bool, plan: BatchPlan,
    ledger: _Ledger, name: str,
) -> dict[str, Any]:
    """Rolling or snapshot of the range's last week: planned, completed, its execution, error."""
    record = records.get(stage) if planned else None
    error = plan.unplanned.get(stage.value)
    if record is not None:
        ledger.note(record, f"{stage.value}:{name}")
        error = record["execution"]["error"]
    return {
        "planned": planned,
        "completed": completed(record),
        "execution_id": record["execution"]["execution_id"] if record else None,
        "error": error,
    }


def quality_outcome(layout: Layout, tier: Tier, records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The checks at FAIL and WARN in these aggregate and rolling records, as `check_name week`."""
    found: dict[str, list[str]] = {"FAIL": [], "WARN": []}
    for record in records:
        for status, names in _record_part(layout, tier, record, "checks").items():
            if status in found:
                found[status] += [f"{name} {record['week_ending']}" for name in names]
    return found


def rejects_by_reason(layout: Layout, tier: Tier, records: list[dict[str, Any]]) -> dict[str, int]:
    """How many rows these ingest and normalize records rejected, per reason code, most first."""
    counts: dict[str, int] = {}
    for record in records:
        for code, count in _record_part(layout, tier, record, "rejects_by_reason").items():
            counts[code] = counts.get(code, 0) + count
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _record_part(layout: Layout, tier: Tier, record: dict[str, Any], key: str) -> dict[str, Any]:
    """A record's summary of its checks or rejects; records written before stages kept one are
    summarised from the stage's table instead."""
    if key in record:
        return record[key]
    import pyarrow.parquet as pq

    from otc.stages import check_outcome, reject_counts

    stage, week = Stage(record["stage"]), dt.date.fromisoformat(record["week_ending"])
    table = Table.QUALITY_CHECKS if key == "checks" else Table.REJECTS
    path = layout.table_file(table, tier, week, stage)
    if not path.exists():
        return {}
    data = pq.read_table(path)
    return check_outcome(data) if key == "checks" else reject_counts(data)


def finish_run(build_dir: Path, tiers: list[str], statuses: dict[str, dict[str, Any]], strict: bool) -> str | None:
    """Fold every record into the manifest; why the run fails (None when every tier COMPLETED).

    With several tiers, print one closing line over them.
    """
    layout = Layout(build_dir)
    write_manifest(layout)
    write_report_index(layout)
    failed = [t for t in tiers if (statuses.get(t) or {}).get("status") != ExecutionStatus.COMPLETED]
    if len(tiers) > 1:
        done = [t for t in tiers if t not in failed]
        print(f"Tiers: {len(done)} of {len(tiers)} COMPLETED"
              + (f" ({', '.join(done)})" if done else "") + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if failed:
        return ("Backfill FAILED: no week was processed" if len(tiers) == 1
                else f"Backfill FAILED for {', '.join(failed)}: no week was processed")
    if strict:
        strict_failed = [t for t in tiers if (statuses.get(t) or {}).get("quality_failed")]
        if strict_failed:
            return f"strict=true: a quality check is at FAIL ({', '.join(strict_failed)})"
    return None


def write_report_index(layout: Layout) -> None:
    """`report/index.html` listing every report page, and the chart library beside them."""
    entries = []
    for path in layout.record_files():
        if path.name.endswith(f".{Stage.REPORT.value}.json"):
            record = read_json(path)
            if completed(record):
                entries.append(record["index_entry"])
    if not entries:
        return
    from otc import report  # Jinja2 and the templates: only when there are reports

    report.write_index(layout.report_dir, entries, layout.cache_dir / "report_index.json")


def summary_block(outcome: BatchOutcome) -> str:
    """The original closing block (Pipeline, Status, Metrics), plus raw-line, skipped and stage counts."""
    lines = [f"Pipeline: {BACKFILL_PIPELINE}", f"Status: {outcome.status}"]
    if outcome.document.get("range_reason"):
        lines.append(f"Range: {outcome.document['range_reason']}")
    lines.append("Metrics:")
    for name, value in outcome.metrics.items():
        if name == "errors":
            lines.append("  errors: []" if not value else "  errors:")
            lines.extend(f"    - {e}" for e in value)
        elif isinstance(value, bool):
            lines.append(f"  {name}: {'true' if value else 'false'}")
        else:
            lines.append(f"  {name}: {value}")
    return "\n".join(lines + _closing_lines(outcome))


def _closing_lines(outcome: BatchOutcome) -> list[str]:
    """What the data says beyond the counts: quality, rejects by reason, and where to look next."""
    document = outcome.document
    quality = document.get("quality", {"FAIL": [], "WARN": []})
    if quality["FAIL"] or quality["WARN"]:
        parts = [f"{len(quality[s])} {s} ({', '.join(quality[s])})" for s in ("FAIL", "WARN") if quality[s]]
        lines = [f"Quality: {'; '.join(parts)}"]
    else:
        lines = ["Quality: every check PASS" if outcome.succeeded else "Quality: no week was checked"]
    reasons = document.get("rejects_by_reason", {})
    if reasons:
        lines.append("Rejects: " + ", ".join(f"{code} {count}" for code, count in reasons.items()))
    if document.get("strict_failed"):
        lines.append("strict=true: a quality check is at FAIL, so this run exits non-zero")
    build_dir = document["params"]["build_dir"]
    option = "" if build_dir == "build" else f" --build-dir {build_dir}"
    lines.append(f"Next: otc status{option} | otc sql{option} \"SELECT * FROM otc_research_snapshot LIMIT 10\""
                 + (f" | otc report{option}" if document.get("reports") else ""))
    return lines
