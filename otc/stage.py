"""How a stage is declared: what it reads, what it writes, which options change its results.

A declaration is the one place a stage's inputs and outputs are written down. Both its doit
task (`file_dep`, `targets`, `uptodate`, in `otc.tasks`) and the I/O around its pure function
(in `otc.runner`) are derived from it, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from pathlib import Path
from typing import Any, Callable, Mapping

import pyarrow as pa

from otc.context import StageContext
from otc.layout import Stage
from otc.schemas import Table


class Artifact(str, enum.Enum):
    """A file a stage writes that is not a table: its path comes from the job, not the schema."""

    SOURCE = "source"  # the tier-week's source file (written by fetch, read by ingest)
    REPORT = "report"  # the week's HTML research report


@dataclasses.dataclass(frozen=True)
class Read:
    """One table a stage reads, as another stage wrote it.

    `weeks` is how many Fridays, ending at the task's own week, are read: 1 for the week itself,
    6 for the rolling window. Of a span, only weeks whose producer completed are read. A
    `required` input whose producer did not complete fails the stage; an optional one reads
    as None. `when` names the option that must be on for the input to be read at all.
    """

    name: str
    table: Table
    stage: Stage
    columns: tuple[str, ...] | None = None
    dictionary: tuple[str, ...] = ()
    weeks: int = 1
    required: bool = True
    when: str | None = None


@dataclasses.dataclass(frozen=True)
class Options:
    """The backfill options a stage can depend on. A stage names those that change its own
    results; its task's `uptodate` holds those and the ones of every stage it reads."""

    reject_zero_volume: bool = False
    with_rolling: bool = True

    def pick(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the runner read for a stage: tables by read name, upstream records, the source path."""

    tables: Mapping[str, pa.Table | None]
    records: Mapping[Stage, dict[str, Any] | None]
    weeks_read: Mapping[str, tuple[dt.date, ...]]
    source_path: Path | None
    options: Options
    finra_url: str | None = None
    cache_dir: Path | None = None  # where a stage may keep what spares the next process work

    def __getitem__(self, name: str) -> pa.Table | None:
        return self.tables[name]


@dataclasses.dataclass
class Result:
    """What a stage's function gives back: its tables, other files, counts for its record."""

    tables: dict[Table, pa.Table]
    counts: dict[str, int]
    rows: int  # what the progress line reports as "rows"
    files: dict[Artifact, bytes] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # more fields for the record


Compute = Callable[[Inputs, StageContext], Result]


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """One stage, declared once."""

    stage: Stage
    pipeline_name: str
    version: str
    doc: str
    compute: Compute
    reads: tuple[Read, ...] = ()
    writes: tuple[Table, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    reads_source: bool = False
    options: tuple[str, ...] = ()  # Options fields that change this stage's own results
    parent: Stage | None = None  # whose execution is the parent (None: the backfill's)
    per_range_end: bool = False  # rolling, snapshot, report: for range ends, not every week
    skip_flag: str | None = None  # the backfill parameter that leaves this stage out
    counts_what: str = "rows"  # what its progress line counts (`12 records in 0.020s`)
