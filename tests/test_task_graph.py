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
SOURCES = "data/fixtures/otc"
STAGE_BASENAMES = {"fetch", "ingest", "normalize", "aggregate", "rolling", "snapshot", "report"}


def _graph(root: Path, **variables: str) -> tuple[dict, dict]:
    """(tasks by name, DOIT_CONFIG) of root/dodo.py for these command-line variables."""
    if variables and "source_dir" not in variables:
        variables["source_dir"] = SOURCES  # the default source_dir would fetch from FINRA
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
    stage_tasks = sorted(n for n, t in tasks.items() if t.subtask_of and n.split(":")[0] in STAGE_BASENAMES)
    assert stage_tasks == sorted(
        [f"{s}:{T}:{w}" for s in ("ingest", "normalize", "aggregate") for w in ("2025-12-19", "2025-12-26")]
        + [f"rolling:{T}:2025-12-26", f"snapshot:{T}:2025-12-26", f"report:{T}:2025-12-26"]
    )  # 2025-12-12 has no file: no tasks, reported by the backfill
    assert sorted(tasks[f"batch:{T}"].task_dep) == stage_tasks
    assert tasks["backfill"].task_dep == [f"batch:{T}"]
    assert config["default_tasks"][-1] == "backfill"
    assert config["dep_file"] == "build/.doit.db" and config["backend"] == "sqlite3"


def test_each_stage_depends_on_the_previous_ones_files_and_targets_its_own(project: Path):
    tasks, _ = _graph(project, tier=T, weeks_back="1", as_of="2025-12-26")
    week = "2025-12-26"
    source = f"data/fixtures/otc/week_{week}.psv"
    ingest, normalize, aggregate = (tasks[f"{s}:{T}:{week}"] for s in ("ingest", "normalize", "aggregate"))
    # the source is judged by content in `uptodate`, so a week whose fetch failed is still reported
    assert ingest.file_dep == set()
    assert f"SourceUnchanged({source!r})" in repr(ingest.uptodate)
    assert sorted(ingest.targets) == sorted([
        f"build/otc_raw/{T}/{week}.parquet", f"build/otc_rejects/{T}/{week}.ingest.parquet",
        f"build/_records/{T}/{week}.ingest.json"])
    # each stage depends on exactly the tables it reads and the records of the stages that wrote them
    assert normalize.file_dep == {f"build/otc_raw/{T}/{week}.parquet", f"build/_records/{T}/{week}.ingest.json"}
    assert f"build/otc_venue_volume/{T}/{week}.parquet" in normalize.targets
    assert aggregate.file_dep == {f"build/otc_venue_volume/{T}/{week}.parquet",
                                  f"build/_records/{T}/{week}.normalize.json"}
    assert f"build/otc_symbol_summary/{T}/{week}.parquet" in aggregate.targets
    rolling = tasks[f"rolling:{T}:{week}"]
    # windows read summaries, never sources: which source_dir a run was given does not matter
    assert rolling.file_dep == {f"build/otc_symbol_summary/{T}/{week}.parquet",
                                f"build/_records/{T}/{week}.aggregate.json"}
    assert set(tasks[f"snapshot:{T}:{week}"].file_dep) >= set(rolling.targets)
    assert not any(dep.startswith("data/") for dep in tasks[f"snapshot:{T}:{week}"].file_dep)


def test_rolling_depends_on_summaries_left_by_earlier_runs(project: Path):
    old = project / "build/otc_symbol_summary" / T / "2025-11-28.parquet"
    record = project / "build/_records" / T / "2025-11-28.aggregate.json"
    for path in (old, record):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"stand-in")
    tasks, _ = _graph(project, tier=T, weeks_back="1", as_of="2025-12-26")
    assert str(old.relative_to(project)) in tasks[f"rolling:{T}:2025-12-26"].file_dep
    assert str(record.relative_to(project)) in tasks[f"rolling:{T}:2025-12-26"].file_dep


def test_sourceless_run_plans_no_window_task(project: Path):
    tasks, _ = _graph(project, tier=T, weeks_back="6", as_of="2025-12-26", source_dir="data/nope")
    assert not [n for n in tasks if n.split(":")[0] in STAGE_BASENAMES and ":" in n]


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


# --- the declarations ---------------------------------------------------------------------------


def test_every_declared_input_is_some_declared_stages_output():
    from otc.stages import STAGES

    written = {(spec.stage, table) for spec in STAGES for table in spec.writes}
    for spec in STAGES:
        for read in spec.reads:
            assert (read.stage, read.table) in written, f"{spec.stage.value} reads {read.table.value} of {read.stage.value}"
            if read.columns:
                assert set(read.columns) <= set(read.table.schema.names), f"{spec.stage.value}: {read.name}"


def test_tables_written_by_two_stages_are_exactly_the_suffixed_ones():
    from collections import Counter

    from otc.layout import SHARED_TABLES
    from otc.stages import STAGES

    writers = Counter(table for spec in STAGES for table in spec.writes)
    assert {table for table, count in writers.items() if count > 1} == SHARED_TABLES


def test_a_stages_uptodate_options_include_those_of_every_stage_it_reads():
    from otc.layout import Stage
    from otc.stages import SPECS, upstream_options

    assert upstream_options(SPECS[Stage.INGEST]) == ()
    assert upstream_options(SPECS[Stage.NORMALIZE]) == ("reject_zero_volume",)
    assert upstream_options(SPECS[Stage.ROLLING]) == ("reject_zero_volume",)
    assert upstream_options(SPECS[Stage.SNAPSHOT]) == ("reject_zero_volume", "with_rolling")


def test_every_name_a_declaration_gives_as_a_string_exists():
    import dataclasses

    from otc.params import BackfillParams
    from otc.stage import Options
    from otc.stages import STAGES

    options = {f.name for f in dataclasses.fields(Options)}
    params = {f.name for f in dataclasses.fields(BackfillParams)}
    for spec in STAGES:
        assert set(spec.options) <= options, spec.stage
        assert {read.when for read in spec.reads if read.when} <= options, spec.stage
        assert spec.skip_flag is None or spec.skip_flag in params, spec.stage
        assert len({read.name for read in spec.reads}) == len(spec.reads), f"{spec.stage}: a read name twice"


def test_with_windows_all_each_week_runs_its_stages_and_window_before_the_next_week(project: Path):
    """So a week's window reads the tables its own stages just wrote while they are in memory."""
    tasks, _ = _graph(project, tier=T, weeks_back="2", as_of="2025-12-26", windows="all")
    weeks = ("2025-12-19", "2025-12-26")
    stages = ("ingest", "normalize", "aggregate", "rolling", "snapshot", "report")
    assert tasks[f"batch:{T}"].task_dep == [f"{s}:{T}:{w}" for w in weeks for s in stages]
