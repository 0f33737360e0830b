"""Where every output lives under the build directory: the one place paths are computed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from pathlib import Path

from otc.schemas import Table
from otc.tiers import Tier


class Stage(str, enum.Enum):
    """A step of the build; its value names its files, its task and its record."""

    INGEST = "ingest"
    NORMALIZE = "normalize"
    AGGREGATE = "aggregate"
    ROLLING = "rolling"
    SNAPSHOT = "snapshot"

    @property
    def pipeline_name(self) -> str:
        return _PIPELINE_NAMES[self]

    @property
    def reached(self) -> str:
        """The manifest stage a tier-week is at once this stage has completed."""
        return _REACHED[self]


_PIPELINE_NAMES = {
    Stage.INGEST: "otc.ingest_week",
    Stage.NORMALIZE: "otc.normalize_week",
    Stage.AGGREGATE: "otc.aggregate_week",
    Stage.ROLLING: "otc.compute_rolling_6w",
    Stage.SNAPSHOT: "otc.research_snapshot_week",
}
_REACHED = {
    Stage.INGEST: "INGESTED",
    Stage.NORMALIZE: "NORMALIZED",
    Stage.AGGREGATE: "AGGREGATED",
    Stage.ROLLING: "ROLLING",
    Stage.SNAPSHOT: "SNAPSHOT",
}
MANIFEST_STAGES = ("PENDING", "INGESTED", "NORMALIZED", "AGGREGATED", "ROLLING", "SNAPSHOT")

#: The tables each stage writes; a table two stages write gets a stage suffix on its files.
STAGE_TABLES: dict[Stage, tuple[Table, ...]] = {
    Stage.INGEST: (Table.RAW, Table.REJECTS),
    Stage.NORMALIZE: (Table.VENUE_VOLUME, Table.NORMALIZATION_MAP, Table.REJECTS),
    Stage.AGGREGATE: (Table.SYMBOL_SUMMARY, Table.VENUE_SHARE, Table.QUALITY_CHECKS),
    Stage.ROLLING: (Table.ROLLING_6W, Table.QUALITY_CHECKS),
    Stage.SNAPSHOT: (Table.RESEARCH_SNAPSHOT,),
}
_SHARED_TABLES = {Table.REJECTS, Table.QUALITY_CHECKS}


@dataclasses.dataclass(frozen=True)
class Layout:
    build_dir: Path

    def table_file(self, table: Table, tier: Tier, week: dt.date, stage: Stage) -> Path:
        """`<build>/<table>/<TIER>/<week>[.<stage>].parquet`."""
        suffix = f".{stage.value}" if table in _SHARED_TABLES else ""
        return self.build_dir / table.value / tier.value / f"{week.isoformat()}{suffix}.parquet"

    def table_dir(self, table: Table) -> Path:
        return self.build_dir / table.value

    def outputs(self, stage: Stage, tier: Tier, week: dt.date) -> dict[Table, Path]:
        return {t: self.table_file(t, tier, week, stage) for t in STAGE_TABLES[stage]}

    def record_file(self, stage: Stage, tier: Tier, week: dt.date) -> Path:
        """The JSON record of the execution that last produced a stage's outputs."""
        return self.build_dir / "_records" / tier.value / f"{week.isoformat()}.{stage.value}.json"

    def record_weeks(self, stage: Stage, tier: Tier) -> list[dt.date]:
        """The weeks of `tier` that hold a record of `stage`."""
        suffix = f".{stage.value}.json"
        folder = self.build_dir / "_records" / tier.value
        return sorted(dt.date.fromisoformat(p.name[: -len(suffix)]) for p in folder.glob(f"*{suffix}"))

    def record_files(self) -> list[Path]:
        return sorted((self.build_dir / "_records").glob("*/*.json"))

    @property
    def manifest_file(self) -> Path:
        return self.build_dir / "manifest.json"

    @property
    def batches_dir(self) -> Path:
        return self.build_dir / "batches"

    def batch_file(self, batch_id: str) -> Path:
        return self.batches_dir / f"{batch_id}.json"

    @property
    def doit_db(self) -> Path:
        return self.build_dir / ".doit.db"

    @property
    def lock_file(self) -> Path:
        return self.build_dir / ".lock"
