"""The stage a tier-week reached, as the manifest and the batch summary report it."""

from __future__ import annotations

import pytest

from otc.layout import Stage
from otc.manifest import manifest_entry, week_stage_reached


def record(stage: Stage, status: str = "COMPLETED", finished: str = "2026-01-02T15:00:00+00:00") -> dict:
    return {
        "stage": stage.value, "tier": "NMS_TIER_1", "week_ending": "2025-12-26",
        "execution": {"execution_id": f"exec_{stage.value}", "batch_id": "batch_1", "status": status,
                      "started_at": "2026-01-02T14:59:00+00:00", "finished_at": finished},
    }


def records(*stages: Stage, failed: Stage | None = None) -> dict[Stage, dict]:
    return {s: record(s, "FAILED" if s is failed else "COMPLETED") for s in stages}


I, N, A, R, S = Stage.INGEST, Stage.NORMALIZE, Stage.AGGREGATE, Stage.ROLLING, Stage.SNAPSHOT


@pytest.mark.parametrize(
    ("given", "reached"),
    [
        pytest.param({}, "PENDING", id="nothing"),
        pytest.param(records(I), "INGESTED", id="ingested"),
        pytest.param(records(I, N, A), "AGGREGATED", id="all-week-stages"),
        pytest.param(records(I, N, A, failed=N), "INGESTED", id="stops-at-a-failure"),
        pytest.param(records(I, A), "INGESTED", id="stops-at-a-gap"),
        pytest.param(records(I, N, A, failed=I), "PENDING", id="failed-ingest"),
    ],
)
def test_week_stage_reached(given, reached):
    assert week_stage_reached(given) == reached


@pytest.mark.parametrize(
    ("given", "reached"),
    [
        pytest.param(records(I, N, A, R, S), "SNAPSHOT", id="range-end-complete"),
        pytest.param(records(I, N, A, R), "ROLLING", id="rolling-only"),
        pytest.param(records(I, N, A, R, S, failed=R), "SNAPSHOT", id="snapshot-without-rolling"),
        pytest.param(records(I, N, R, S), "NORMALIZED", id="window-stages-need-the-aggregate"),
        pytest.param(records(R), "PENDING", id="only-a-rolling-record"),
    ],
)
def test_manifest_stage_adds_the_window_stages_of_a_range_end(given, reached):
    assert manifest_entry(given)["stage"] == reached
