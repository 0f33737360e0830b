"""What every stage is told about its run: tier-week, lineage ids and the clock."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa

from otc.schemas import TIMESTAMP
from otc.tiers import Tier


@dataclasses.dataclass(frozen=True)
class StageContext:
    """Identity of one stage execution; stages never read the clock themselves."""

    tier: Tier
    week: dt.date
    execution_id: str
    batch_id: str
    now: dt.datetime

    def key_columns(self, length: int) -> dict[str, pa.Array]:
        """week_ending, tier, execution_id and batch_id repeated `length` times."""
        return {
            "week_ending": pa.repeat(pa.scalar(self.week, pa.date32()), length),
            "tier": _repeat(self.tier.value, length),
            "execution_id": _repeat(self.execution_id, length),
            "batch_id": _repeat(self.batch_id, length),
        }

    def timestamp(self, length: int) -> pa.Array:
        return pa.repeat(pa.scalar(self.now, TIMESTAMP), length)


def _repeat(value: str, length: int) -> pa.Array:
    """`value` repeated, dictionary-encoded: a few bytes a row whatever the string's length."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(length, np.int32)), pa.array([value], pa.string()))
