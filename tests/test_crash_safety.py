"""A killed run leaves nothing a later run trusts; two runs on one build directory never meet."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doit_helpers import RANGE, doit, make_project, metrics, table_contents

RUN_FIELDS = {"execution_id", "batch_id", "created_at", "updated_at"}


def _manifest(build: Path) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in RUN_FIELDS}
            for e in json.loads((build / "manifest.json").read_text())]


def _temporary_files(build: Path) -> list[Path]:
    return [p for p in build.rglob("*.tmp")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("reference"))
    assert doit(root, "backfill", *RANGE).returncode == 0
    return root / "build"


@pytest.mark.parametrize("failpoint, leaves_temporary_file", [
    pytest.param("ingest:NMS_TIER_1:2025-12-05=kill", False, id="during-ingest-of-week-3"),
    pytest.param("write:build/otc_venue_volume/NMS_TIER_1/2025-12-12.parquet=kill", True,
                 id="while-writing-a-parquet-file"),
    pytest.param("write:build/_records/NMS_TIER_1/2025-12-19.aggregate.json=kill", True,
                 id="while-writing-a-stage-record"),
    pytest.param("snapshot:NMS_TIER_1:2025-12-26=kill", False, id="before-the-snapshot"),
    pytest.param("write:build/manifest.json=kill", True, id="while-writing-the-manifest"),
])
def test_killed_run_then_rerun_equals_an_uninterrupted_run(tmp_path: Path, reference: Path,
                                                           failpoint: str, leaves_temporary_file: bool):
    project = make_project(tmp_path)
    killed = doit(project, "backfill", *RANGE, env={"OTC_FAILPOINT": failpoint})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert bool(_temporary_files(project / "build")) == leaves_temporary_file

    rerun = doit(project, "backfill", *RANGE)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert metrics(rerun.stdout)["total_normalized"] == "71"
    assert _temporary_files(project / "build") == []
    assert table_contents(project / "build") == table_contents(reference)
    assert _manifest(project / "build") == _manifest(reference)
    again = doit(project, "backfill", *RANGE)
    assert metrics(again.stdout)["stages_run"] == "0"


def test_second_run_on_a_busy_build_dir_exits_at_once_and_harms_nothing(tmp_path: Path, reference: Path):
    project = make_project(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-m", "doit", "backfill", *RANGE], cwd=project, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**__import__("os").environ, "OTC_FAILPOINT": "ingest:NMS_TIER_1:2025-12-05=sleep:4"},
    )
    try:
        record = project / "build/_records/NMS_TIER_1/2025-11-28.aggregate.json"
        deadline = time.monotonic() + 30
        while not record.exists():
            assert time.monotonic() < deadline and first.poll() is None, "first run never got going"
            time.sleep(0.05)
        started = time.monotonic()
        second = doit(project, "backfill", *RANGE)
        assert time.monotonic() - started < 3.5  # it did not wait for the first run
        assert second.returncode != 0
        assert second.stderr.strip().splitlines() == [
            f"ERROR: Another run is using build/ (pid {first.pid}); try again when it has finished"]
        assert "Pipeline:" not in second.stdout
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert metrics(out)["stages_run"] == "20"
    third = doit(project, "backfill", *RANGE)
    assert metrics(third.stdout)["stages_run"] == "0"
    assert table_contents(project / "build") == table_contents(reference)
    assert _manifest(project / "build") == _manifest(reference)


def test_lock_is_released_when_a_run_is_killed(tmp_path: Path):
    project = make_project(tmp_path)
    killed = doit(project, "backfill", *RANGE, env={"OTC_FAILPOINT": "normalize:NMS_TIER_1:2025-11-21=kill"})
    assert killed.returncode == -9
    assert doit(project, "backfill", *RANGE).returncode == 0
