"""The task graph of dodo.py, loaded through doit's own loader and checked without running it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from doit import doit_cmd
from doit.loader import get_module, load_doit_config, load_tasks

from doit_helpers import FIXTURE_WEEKS, make_project

T = "NMS_TIER_1"


def _graph(root: Path, **variables: str) -> tuple[dict, dict]:
    """(tasks by name, DOIT_CONFIG) of root/dodo.py for these command-line variables."""
    doit_cmd.reset_vars()
    for name, value in variables.items():
        doit_cmd.set_var(name, value)
    cwd = os.getcwd()
    sys.modules.pop("dodo", None)  # doit imports it by name: load this project's, not a cached one
    try:
        module = get_module(str(root / "dodo.py"), cwd=str(root))  # doit chdirs to root
        namespace = dict(vars(module))
        tasks = {t.name: t for t in load_tasks(namespace)}
        return tasks, load_doit_config(namespace)
    finally:
        os.chdir(cwd)
        doit_cmd.reset_vars()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, FIXTURE_WEEKS[-2:])  # 2025-12-19 and 2025-12-26 only


def test_two_week_range_has_three_stages_a_week_then_rolling_snapshot_and_backfill(project: Path):
    tasks, config = _graph(project, tier=T, start_week="2025-12-12", end_week="2025-12-26")
    stage_tasks = sorted(n for n, t in tasks.items() if t.subtask_of)
    assert stage_tasks == sorted(
        [f"{s}:{T}:{w}" for s in ("ingest", "normalize", "aggregate") for w in ("2025-12-19", "2025-12-26")]
        + [f"rolling:{T}:2025-12-26", f"snapshot:{T}:2025-12-26"]
    )  # 2025-12-12 has no file: no tasks, reported by the backfill
    assert sorted(tasks["backfill"].task_dep) == stage_tasks
    assert config["default_tasks"][-1] == "backfill"
    assert config["dep_file"] == "build/.doit.db" and config["backend"] == "sqlite3"


def test_each_stage_depends_on_the_previous_ones_files_and_targets_its_own(project: Path):
    tasks, _ = _graph(project, tier=T, weeks_back="1", as_of="2025-12-26")
    week = "2025-12-26"
    source = f"data/fixtures/otc/week_{week}.psv"
    ingest, normalize, aggregate = (tasks[f"{s}:{T}:{week}"] for s in ("ingest", "normalize", "aggregate"))
    assert ingest.file_dep == {source}
    assert sorted(ingest.targets) == sorted([
        f"build/otc_raw/{T}/{week}.parquet", f"build/otc_rejects/{T}/{week}.ingest.parquet",
        f"build/_records/{T}/{week}.ingest.json"])
    assert normalize.file_dep == {source, *ingest.targets}
    assert f"build/otc_venue_volume/{T}/{week}.parquet" in normalize.targets
    assert aggregate.file_dep == {source, *normalize.targets}
    assert f"build/otc_symbol_summary/{T}/{week}.parquet" in aggregate.targets
    rolling = tasks[f"rolling:{T}:{week}"]
    assert f"build/otc_symbol_summary/{T}/{week}.parquet" in rolling.file_dep
    assert set(tasks[f"snapshot:{T}:{week}"].file_dep) >= set(rolling.targets)


def test_rolling_depends_on_summaries_left_by_earlier_runs(project: Path):
    old = project / "build/otc_symbol_summary" / T / "2025-11-28.parquet"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"stand-in")
    tasks, _ = _graph(project, tier=T, weeks_back="1", as_of="2025-12-26")
    assert str(old.relative_to(project)) in tasks[f"rolling:{T}:2025-12-26"].file_dep


def test_options_and_skips_shape_the_graph(project: Path):
    plain, _ = _graph(project, tier=T, weeks_back="1", as_of="2025-12-26")
    zero, _ = _graph(project, tier=T, weeks_back="1", as_of="2025-12-26", reject_zero_volume="true",
                     skip_rolling="true", skip_snapshot="true")
    assert f"rolling:{T}:2025-12-26" not in zero and f"snapshot:{T}:2025-12-26" not in zero
    # reject_zero_volume is part of normalize's up-to-date check, not of ingest's
    name = f"normalize:{T}:2025-12-26"
    assert repr(plain[name].uptodate) != repr(zero[name].uptodate)
    ingest = f"ingest:{T}:2025-12-26"
    assert repr(plain[ingest].uptodate) == repr(zero[ingest].uptodate)


def test_without_variables_only_the_backfill_task_exists(project: Path):
    tasks, config = _graph(project)
    assert list(tasks) == ["backfill"]
    assert config["forget_all"] is True


def test_build_dir_variable_moves_targets_and_doit_state(project: Path):
    tasks, config = _graph(project, tier=T, weeks_back="1", as_of="2025-12-26", build_dir="out/b")
    assert config["dep_file"] == "out/b/.doit.db"
    assert all(t.startswith("out/b/") for t in tasks[f"ingest:{T}:2025-12-26"].targets)
