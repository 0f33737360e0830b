"""A killed run leaves nothing a later run trusts; two runs on one build directory never meet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from doit_helpers import RANGE, FixtureRun, doit, file_states, make_project, metrics, table_contents

RUN_FIELDS = {"execution_id", "batch_id", "created_at", "updated_at"}


def _manifest(build: Path) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in RUN_FIELDS}
            for e in json.loads((build / "manifest.json").read_text())]


def _temporary_files(build: Path) -> list[Path]:
    return [p for p in build.rglob("*.tmp")]


@pytest.fixture
def reference(fixture_backfill: FixtureRun) -> Path:
    """The build of an uninterrupted run (read only)."""
    return fixture_backfill.root / "build"


def _full_pipe() -> tuple[int, int, int]:
    """(read end, write end, bytes in it) of a pipe filled to the brim: a process that writes
    to it waits, and goes on only once the read end is read."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    filled = 0
    try:
        while True:
            filled += os.write(write_end, b"." * 65536)
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)
    return read_end, write_end, filled


def _read_to_end(fd: int, into: bytearray) -> None:
    while chunk := os.read(fd, 65536):
        into += chunk


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
    """A second run while the first holds the lock refuses at once and touches nothing.

    Nothing here depends on speed. The first run prints to a full pipe, so once it has taken
    the lock it cannot get past its first line (let alone finish and release the lock) until
    the test reads the pipe; the test also stops it (SIGSTOP) so that every file stays as it
    is while the second run goes. A second run that waited for the lock would never return.
    """
    project = make_project(tmp_path)
    build = project / "build"
    read_end, write_end, filled = _full_pipe()
    first = subprocess.Popen([sys.executable, "-m", "doit", "backfill", *RANGE], cwd=project,
                             stdout=write_end, stderr=write_end, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(write_end)
    output = bytearray()
    reader = threading.Thread(target=_read_to_end, args=(read_end, output))
    try:
        deadline = time.monotonic() + 60  # against a hang only
        while not ((build / ".lock").is_file() and (build / ".lock").read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGSTOP)
        _, status = os.waitpid(first.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status
        before = file_states(build)
        second = doit(project, "backfill", *RANGE, timeout=60)
        after = file_states(build)
    finally:
        os.kill(first.pid, signal.SIGCONT)
        reader.start()
        first.wait(timeout=120)
        reader.join()
        os.close(read_end)
    assert second.returncode != 0
    assert second.stderr.strip().splitlines() == [
        f"ERROR: Another run is using build/ (pid {first.pid}); try again when it has finished"]
    assert "Pipeline:" not in second.stdout
    assert after == before

    out = output[filled:].decode()
    assert first.returncode == 0, out
    assert metrics(out)["stages_run"] == "20"
    third = doit(project, "backfill", *RANGE)
    assert metrics(third.stdout)["stages_run"] == "0"
    assert table_contents(build) == table_contents(reference)
    assert _manifest(build) == _manifest(reference)


def test_lock_is_released_when_a_run_is_killed(tmp_path: Path):
    project = make_project(tmp_path)
    killed = doit(project, "backfill", *RANGE, env={"OTC_FAILPOINT": "normalize:NMS_TIER_1:2025-11-21=kill"})
    assert killed.returncode == -9
    assert doit(project, "backfill", *RANGE).returncode == 0
