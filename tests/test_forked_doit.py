"""The forked `doit` of the tests (tests/forked_doit.py) behaves as `python -m doit` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from doit_helpers import SOURCE, doit, make_project


@pytest.mark.parametrize("args", [
    pytest.param(["backfill", "tier=OTC", "tier=T1", "weeks_back=1"], id="repeated-variable-found-in-argv"),
    pytest.param(["backfill", "tier=NMS_TIER_1", "weeks_back=1", "as_of=2025-12-26", "skip_rolling=maybe", SOURCE],
                 id="bad-value"),
    pytest.param(["list"], id="list"),
    pytest.param(["no_such_task"], id="unknown-task-names-the-program"),
])
def test_a_forked_run_prints_and_exits_as_a_new_interpreter_does(tmp_path: Path, args):
    project = make_project(tmp_path / "p", [])
    forked, fresh = doit(project, *args), doit(project, *args, fresh=True)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_forked_run_takes_its_directory_and_environment_and_can_be_killed(tmp_path: Path):
    project = make_project(tmp_path / "p", ["2025-12-26"])
    killed = doit(project, "backfill", "tier=NMS_TIER_1", "weeks_back=1", "as_of=2025-12-26", SOURCE,
                  env={"OTC_FAILPOINT": "ingest:NMS_TIER_1:2025-12-26=kill"})
    assert killed.returncode == -9  # SIGKILL, as subprocess reports it
    assert (project / "build").is_dir()  # it ran in `project`
    again = doit(project, "backfill", "tier=NMS_TIER_1", "weeks_back=1", "as_of=2025-12-26", SOURCE)
    assert again.returncode == 0, again.stderr


def test_a_run_that_times_out_is_killed_and_the_next_run_goes_on(tmp_path: Path):
    import subprocess

    project = make_project(tmp_path / "p", ["2025-12-26"])
    args = ["backfill", "tier=NMS_TIER_1", "weeks_back=1", "as_of=2025-12-26", SOURCE]
    with pytest.raises(subprocess.TimeoutExpired):
        doit(project, *args, env={"OTC_FAILPOINT": "ingest:NMS_TIER_1:2025-12-26=sleep:30"}, timeout=2)
    result = doit(project, *args)
    assert result.returncode == 0, result.stderr
