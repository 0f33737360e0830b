"""`manifest.json`: one entry per tier-week, assembled from the stage records on disk.

Each stage writes only its own record, so parallel tasks never race on one file; this
module folds them into the manifest in a single step at the end of a run.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from typing import Any

from otc.layout import Layout, Stage
from otc.lineage import ExecutionStatus
from otc.store import read_json, write_json
from otc.tiers import Tier


class ManifestStage(enum.StrEnum):
    """How far a tier-week got, in order (the manifest's `stage`)."""

    PENDING = "PENDING"
    INGESTED = "INGESTED"
    NORMALIZED = "NORMALIZED"
    AGGREGATED = "AGGREGATED"
    ROLLING = "ROLLING"
    SNAPSHOT = "SNAPSHOT"

    @property
    def rank(self) -> int:
        return list(ManifestStage).index(self)


#: What a tier-week has reached once each stage has completed.
REACHED = {
    Stage.INGEST: ManifestStage.INGESTED,
    Stage.NORMALIZE: ManifestStage.NORMALIZED,
    Stage.AGGREGATE: ManifestStage.AGGREGATED,
    Stage.ROLLING: ManifestStage.ROLLING,
    Stage.SNAPSHOT: ManifestStage.SNAPSHOT,
}
#: The stages of one tier-week, in order; each needs the one before it.
WEEK_STAGES = (Stage.INGEST, Stage.NORMALIZE, Stage.AGGREGATE)


def completed(record: dict[str, Any] | None) -> bool:
    """Whether a stage record exists and its execution completed."""
    return record is not None and record["execution"]["status"] == ExecutionStatus.COMPLETED


def week_counts(records: dict[Stage, dict[str, Any] | None]) -> dict[str, int]:
    """A tier-week's line counts from its ingest and normalize records (0 where a stage has none):
    raw_lines = normalized + rejected + skipped, and parsed = ingested + skipped."""
    ingest = (records.get(Stage.INGEST) or {}).get("counts", {})
    normalize = (records.get(Stage.NORMALIZE) or {}).get("counts", {})
    return {
        "raw_lines": ingest.get("raw", 0),
        "parsed": ingest.get("parsed", 0),
        "ingested": ingest.get("inserted", 0),
        "normalized": normalize.get("accepted", 0),
        "rejected": ingest.get("rejected", 0) + normalize.get("rejected", 0),
        "skipped": ingest.get("skipped", 0),
    }


def week_stage_reached(records: dict[Stage, dict[str, Any]]) -> str:
    """How far a tier-week got through its own stages: the manifest stage of the last one that
    completed with every one before it (PENDING when ingest did not)."""
    reached = ManifestStage.PENDING
    for stage in WEEK_STAGES:
        if not completed(records.get(stage)):
            break
        reached = REACHED[stage]
    return reached


def manifest_entry(records: dict[Stage, dict[str, Any]], created_at: str | None = None) -> dict[str, Any]:
    """The manifest row of one tier-week from its stage records."""
    ingest = records.get(Stage.INGEST, {})
    source = ingest.get("source", {})
    counts = week_counts(records)
    reached = week_stage_reached(records)
    if reached == ManifestStage.AGGREGATED:  # then the window stages of a range end may follow
        for stage in (Stage.ROLLING, Stage.SNAPSHOT):
            if completed(records.get(stage)):
                reached = max(reached, REACHED[stage], key=lambda s: s.rank)
    executions = [r["execution"] for r in records.values()]
    latest = max(executions, key=lambda e: e["finished_at"] or "")
    first = records.get(Stage.INGEST, next(iter(records.values())))["execution"]
    return {
        "week_ending": next(iter(records.values()))["week_ending"],
        "tier": next(iter(records.values()))["tier"],
        "source_type": source.get("source_type"),
        "source_locator": source.get("source_locator"),
        "source_sha256": source.get("source_sha256"),
        "source_bytes": source.get("source_bytes"),
        "row_count_raw": counts["raw_lines"],
        "row_count_parsed": counts["parsed"],
        "row_count_inserted": counts["ingested"],
        "row_count_normalized": counts["normalized"],
        "row_count_rejected": counts["rejected"],
        "stage": reached,
        "execution_id": latest["execution_id"],
        "batch_id": latest["batch_id"],
        "created_at": created_at or first["started_at"],
        "updated_at": latest["finished_at"],
    }


def load_records(layout: Layout, tier: Tier | None = None) -> dict[tuple[str, str], dict[Stage, dict[str, Any]]]:
    """Every stage record under the build directory (of one tier), by (tier, week_ending)."""
    by_week: dict[tuple[str, str], dict[Stage, dict[str, Any]]] = defaultdict(dict)
    for path in layout.record_files(tier):
        record = read_json(path)
        by_week[(record["tier"], record["week_ending"])][Stage(record["stage"])] = record
    return by_week


def write_manifest(layout: Layout) -> list[dict[str, Any]]:
    """Rebuild manifest.json from the records; rewrite it only when its content changes."""
    previous = {}
    if layout.manifest_file.exists():
        previous = {(e["tier"], e["week_ending"]): e["created_at"] for e in read_json(layout.manifest_file)}
    entries = [
        manifest_entry(records, previous.get(key))
        for key, records in sorted(load_records(layout).items())
    ]
    write_json(entries, layout.manifest_file)
    return entries
