"""Where every output lives under the build directory: the one place paths are computed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from pathlib import Path

from otc.schemas import Table
from otc.tiers import Tier


class Stage(str, enum.Enum):
    """A step of the build; its value names its task, its files and its record."""

    FETCH = "fetch"
    INGEST = "ingest"
    NORMALIZE = "normalize"
    AGGREGATE = "aggregate"
    ROLLING = "rolling"
    SNAPSHOT = "snapshot"
    REPORT = "report"


#: Tables two stages write: each stage's file of them gets a stage suffix (a doit target has
#: one producer). A test checks this against the stage declarations.
SHARED_TABLES = frozenset({Table.REJECTS, Table.QUALITY_CHECKS})


@dataclasses.dataclass(frozen=True)
class Layout:
    build_dir: Path

    def table_file(self, table: Table, tier: Tier, week: dt.date, stage: Stage) -> Path:
        """`<build>/<table>/<TIER>/<week>[.<stage>].parquet`."""
        suffix = f".{stage.value}" if table in SHARED_TABLES else ""
        return self.build_dir / table.value / tier.value / f"{week.isoformat()}{suffix}.parquet"

    def table_dir(self, table: Table) -> Path:
        return self.build_dir / table.value

    def table_files(self, tables: tuple[Table, ...], stage: Stage, tier: Tier, week: dt.date) -> dict[Table, Path]:
        return {t: self.table_file(t, tier, week, stage) for t in tables}

    def record_file(self, stage: Stage, tier: Tier, week: dt.date) -> Path:
        """The JSON record of the execution that last produced a stage's outputs."""
        return self.build_dir / "_records" / tier.value / f"{week.isoformat()}.{stage.value}.json"

    def record_weeks(self, stage: Stage, tier: Tier) -> list[dt.date]:
        """The weeks of `tier` that hold a record of `stage`."""
        suffix = f".{stage.value}.json"
        folder = self.build_dir / "_records" / tier.value
        return sorted(dt.date.fromisoformat(p.name[: -len(suffix)]) for p in folder.glob(f"*{suffix}"))

    def record_files(self, tier: Tier | None = None) -> list[Path]:
        """Every stage record, or one tier's."""
        return sorted((self.build_dir / "_records").glob(f"{tier.value if tier else '*'}/*.json"))

    def report_file(self, tier: Tier, week: dt.date) -> Path:
        return self.report_dir / tier.value / f"{week.isoformat()}.html"

    @property
    def report_dir(self) -> Path:
        return self.build_dir / "report"

    @property
    def cache_dir(self) -> Path:
        """What commands keep for the next ones: nothing there is an output."""
        return self.build_dir / "_cache"

    @property
    def finra_cache_file(self) -> Path:
        """FINRA's list of published weeks, kept for a few minutes between commands."""
        return self.cache_dir / "finra_partitions.json"

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
