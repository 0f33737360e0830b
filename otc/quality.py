"""Quality checks: one row per check, with a PASS / WARN / FAIL status."""

from __future__ import annotations

import dataclasses
import enum
from typing import Iterable

import pyarrow as pa

from otc.context import StageContext
from otc.schemas import Table, conform


class CheckStatus(str, enum.Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"

    @classmethod
    def worst(cls, statuses: Iterable[str]) -> "CheckStatus":
        """FAIL > WARN > PASS; PASS when there is nothing to judge."""
        order = [cls.PASS, cls.WARN, cls.FAIL]
        return max((cls(s) for s in statuses), key=order.index, default=cls.PASS)


class CheckCategory(str, enum.Enum):
    INTEGRITY = "INTEGRITY"
    BUSINESS_RULE = "BUSINESS_RULE"
    COMPLETENESS = "COMPLETENESS"


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    category: CheckCategory
    status: CheckStatus
    value: str
    expected: str
    tolerance: str | None
    message: str


def checks_table(ctx: StageContext, pipeline_name: str, checks: list[Check]) -> pa.Table:
    """Rows of otc_quality_checks, in the order the checks are listed."""
    n = len(checks)
    table = pa.table({
        **ctx.key_columns(n),
        "pipeline_name": pa.repeat(pa.scalar(str(pipeline_name)), n),
        "check_name": [c.name for c in checks],
        "check_category": [c.category.value for c in checks],
        "status": [c.status.value for c in checks],
        "check_value": [c.value for c in checks],
        "expected_value": [c.expected for c in checks],
        "tolerance": pa.array([c.tolerance for c in checks], pa.string()),
        "message": [c.message for c in checks],
        "created_at": ctx.timestamp(n),
    })
    return conform(table, Table.QUALITY_CHECKS)


def zero_count_check(name: str, category: CheckCategory, count: int, what: str) -> Check:
    """FAIL when `count` offending rows exist."""
    status = CheckStatus.PASS if count == 0 else CheckStatus.FAIL
    message = f"No {what}" if count == 0 else f"{count} {what} found"
    return Check(name, category, status, str(count), "0", "0", message)


def positive_count_check(name: str, count: int, what: str) -> Check:
    """COMPLETENESS: FAIL when there is nothing."""
    status = CheckStatus.PASS if count > 0 else CheckStatus.FAIL
    return Check(name, CheckCategory.COMPLETENESS, status, str(count), "> 0", "0", f"{count} {what}")
