"""Batches and executions: which run produced what, from which parent."""

from __future__ import annotations

import dataclasses
import enum
import datetime as dt
import uuid
from typing import Any, Callable

from otc.tiers import Tier


class PipelineName(enum.StrEnum):
    """The name each execution records: the pipeline names queries filter on, defined here only."""

    BACKFILL = "otc.backfill_range"
    FETCH = "otc.fetch_week"
    INGEST = "otc.ingest_week"
    NORMALIZE = "otc.normalize_week"
    AGGREGATE = "otc.aggregate_week"
    ROLLING = "otc.compute_rolling_6w"
    SNAPSHOT = "otc.research_snapshot_week"
    REPORT = "otc.report_week"


BACKFILL_PIPELINE = PipelineName.BACKFILL


class ExecutionStatus(enum.StrEnum):
    """How an execution ended."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_execution_id() -> str:
    return f"exec_{uuid.uuid4().hex}"


def batch_id_for(
    tier: Tier, start: dt.date, end: dt.date, started_at: dt.datetime, taken: Callable[[str], bool] = lambda _: False
) -> str:
    """`backfill_{TIER}_{start}_{end}_{YYYYmmddTHHMMSS}` (the run's start, UTC).

    Two runs can start within one second: the later one takes the next free second, so a
    batch id names one run only.
    """
    while True:
        batch_id = f"backfill_{tier.value}_{start.isoformat()}_{end.isoformat()}_{started_at:%Y%m%dT%H%M%S}"
        if not taken(batch_id):
            return batch_id
        started_at += dt.timedelta(seconds=1)


@dataclasses.dataclass(frozen=True)
class Batch:
    """One backfill run; every execution it starts carries its id."""

    batch_id: str
    execution_id: str  # the backfill's own execution, parent of ingest and rolling
    started_at: dt.datetime


@dataclasses.dataclass
class Execution:
    execution_id: str
    pipeline_name: str
    params: dict[str, Any]
    parent_execution_id: str | None
    batch_id: str
    status: str
    started_at: str
    finished_at: str | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
