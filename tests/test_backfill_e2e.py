"""End to end: the real `doit backfill` command in a temporary directory.

The first backfill of the fixture weeks and an identical second one run once a session
(conftest.py: `fixture_backfill`, `fixture_rerun`); tests that only read their output use
them as they are, tests that run doit again or change a file work on a copy (`built`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from doit_helpers import FIXTURE_WEEKS, PROJECT, RANGE, SOURCE, FixtureRun, doit, make_project, metrics, stage_lines

WEEK_STAGES = ("ingest", "normalize", "aggregate")
ALL_STAGES = sorted(
    [f"{s}:NMS_TIER_1:{w}" for w in FIXTURE_WEEKS for s in WEEK_STAGES]
    + ["rolling:NMS_TIER_1:2025-12-26", "snapshot:NMS_TIER_1:2025-12-26"]
)


def _week_and_window(week: str) -> list[str]:
    return sorted([f"{s}:NMS_TIER_1:{week}" for s in WEEK_STAGES]
                  + ["rolling:NMS_TIER_1:2025-12-26", "snapshot:NMS_TIER_1:2025-12-26"])


def _files(build: Path) -> dict[str, tuple[int, bytes]]:
    """Every output file with its mtime and content; doit's db, the run lock and batch files aside."""
    return {
        str(p.relative_to(build)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(build.rglob("*"))
        if p.is_file() and not p.name.startswith((".doit.db", ".lock")) and "batches" not in p.parts
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the six fixture weeks and nothing built yet."""
    return make_project(tmp_path)


def test_fixture_backfill_prints_the_seed_block(fixture_backfill: FixtureRun):
    result = fixture_backfill.result
    assert result.returncode == 0, result.stderr
    found = metrics(result.stdout)
    assert found["status"] == "COMPLETED"
    assert found["batch_id"].startswith("backfill_NMS_TIER_1_2025-11-21_2025-12-26_")
    assert {k: found[k] for k in (
        "tier", "weeks_requested", "weeks_processed", "total_ingested", "total_normalized",
        "total_rejected", "rolling_computed", "snapshot_built", "errors", "total_raw_lines",
        "total_skipped", "stages_run", "stages_up_to_date")} == {
        "tier": "NMS_TIER_1", "weeks_requested": "6", "weeks_processed": "6",
        "total_ingested": "72", "total_normalized": "71", "total_rejected": "1",
        "rolling_computed": "true", "snapshot_built": "true", "errors": "[]",
        "total_raw_lines": "72", "total_skipped": "0", "stages_run": "20", "stages_up_to_date": "0",
    }
    assert sorted(stage_lines(result.stdout)) == ALL_STAGES
    assert "Traceback" not in result.stdout + result.stderr


def test_identical_second_run_executes_nothing_and_rewrites_nothing(fixture_backfill: FixtureRun,
                                                                     fixture_rerun: FixtureRun):
    again = fixture_rerun.result
    assert again.returncode == 0
    found = metrics(again.stdout)
    assert (found["stages_run"], found["stages_up_to_date"]) == ("0", "20")
    assert (found["total_ingested"], found["total_normalized"], found["total_rejected"]) == ("72", "71", "1")
    assert stage_lines(again.stdout) == []
    # the second run worked on a copy of the first's directory, every mtime kept
    assert _files(fixture_rerun.root / "build") == _files(fixture_backfill.root / "build")


def test_up_to_date_stages_are_listed_only_with_verbosity_2(fixture_rerun: FixtureRun, built: Path):
    quiet = fixture_rerun.result
    loud = doit(built, "-v", "2", "backfill", *RANGE)
    assert "(up to date)" not in quiet.stdout
    assert loud.stdout.count("(up to date)") == 20


def test_new_week_runs_only_that_week_and_the_window(tmp_path: Path):
    project = make_project(tmp_path, FIXTURE_WEEKS[:-1])
    first = doit(project, "backfill", *RANGE)
    assert first.returncode == 0
    assert "2025-12-26: Source file not found: data/fixtures/otc/week_2025-12-26.psv" in first.stdout
    shutil.copy(PROJECT / "data/fixtures/otc/week_2025-12-26.psv",
                project / "data/fixtures/otc/week_2025-12-26.psv")
    second = doit(project, "backfill", *RANGE)
    assert sorted(stage_lines(second.stdout)) == _week_and_window("2025-12-26")
    assert metrics(second.stdout)["weeks_processed"] == "6"


def test_changed_source_reruns_its_week_and_dependents(built: Path):
    source = built / "data/fixtures/otc/week_2025-12-05.psv"
    source.write_text(source.read_text().replace("|NITE|", "|NITE|1", 1).replace("|NITE|1", "|NITE|", 1)
                      + "2025-12-05|NMS_TIER_1|ZZZZ|NITE|100|1\n")
    result = doit(built, "backfill", *RANGE)
    assert sorted(stage_lines(result.stdout)) == _week_and_window("2025-12-05")
    assert metrics(result.stdout)["total_ingested"] == "73"


def test_byte_identical_recopy_reruns_nothing(built: Path):
    source = built / "data/fixtures/otc/week_2025-12-05.psv"
    content = source.read_bytes()
    source.unlink()
    source.write_bytes(content)
    os.utime(source, (1_900_000_000, 1_900_000_000))
    result = doit(built, "backfill", *RANGE)
    assert stage_lines(result.stdout) == []


@pytest.mark.parametrize("forget_args, expected", [
    pytest.param([*RANGE], ALL_STAGES, id="bare-forget-with-the-backfill-variables"),
    pytest.param([], ALL_STAGES, id="bare-forget-without-variables"),
    pytest.param(["build_dir=build"], ALL_STAGES, id="bare-forget-naming-only-the-build-dir"),
    pytest.param(["aggregate:NMS_TIER_1:2025-11-28", *RANGE],
                 ["aggregate:NMS_TIER_1:2025-11-28", "rolling:NMS_TIER_1:2025-12-26",
                  "snapshot:NMS_TIER_1:2025-12-26"], id="forget-one-task"),
])
def test_forget_then_backfill_reruns_the_stages(built: Path, forget_args, expected):
    forgotten = doit(built, "forget", *forget_args)
    assert forgotten.returncode == 0, forgotten.stderr
    result = doit(built, "backfill", *RANGE)
    assert sorted(stage_lines(result.stdout)) == sorted(expected)


def test_force_reruns_every_stage(built: Path):
    result = doit(built, "backfill", *RANGE, "force=true")
    assert sorted(stage_lines(result.stdout)) == ALL_STAGES


def test_missing_week_is_reported_and_the_others_complete(tmp_path: Path):
    project = make_project(tmp_path, [w for w in FIXTURE_WEEKS if w != "2025-11-28"])
    result = doit(project, "backfill", *RANGE)
    assert result.returncode == 0
    found = metrics(result.stdout)
    assert found["status"] == "COMPLETED"
    assert found["weeks_processed"] == "5"
    assert found["errors"] == "2025-11-28: Source file not found: data/fixtures/otc/week_2025-11-28.psv"


def test_no_week_at_all_fails_with_non_zero_exit(tmp_path: Path):
    project = make_project(tmp_path, [])
    result = doit(project, "backfill", *RANGE)
    assert result.returncode != 0
    assert metrics(result.stdout)["status"] == "FAILED"
    assert "ERROR: Backfill FAILED: no week was processed" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_unknown_header_fails_that_week_only(project: Path):
    (project / "data/fixtures/otc/week_2025-12-12.psv").write_text("Foo|Bar\n1|2\n")
    result = doit(project, "backfill", *RANGE)
    assert result.returncode == 0
    found = metrics(result.stdout)
    assert found["weeks_processed"] == "5"
    assert "2025-12-12: Unrecognised header in data/fixtures/otc/week_2025-12-12.psv" in found["errors"]
    assert "Traceback" not in result.stdout + result.stderr


# The messages of the other parameter errors are checked in-process, every one of them:
# test_params.py::test_command_line_parameter_errors_are_exact_one_line_messages.
@pytest.mark.parametrize("args, message", [
    pytest.param([], "Missing required parameter: tier", id="no-tier"),
    pytest.param(["tier=OTC", "start_week=2025-12-25", "end_week=2025-12-26", SOURCE],
                 "start_week must be a Friday, got 2025-12-25 (Thursday). Nearest Friday: 2025-12-26",
                 id="start-not-friday"),
    pytest.param(["tier=OTC", "weeks_back=2", "build_dir=dodo.py/build", SOURCE],
                 "Cannot use build_dir dodo.py/build: Not a directory", id="build-dir-under-a-file"),
])
def test_invalid_parameters_give_one_line_and_non_zero_exit(project: Path, args, message):
    result = doit(project, "backfill", *args)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[0] == f"ERROR: {message}"  # a missing tier then lists the parameters
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("args, weeks", [
    pytest.param(["weeks_back=3", "as_of=2025-12-24"], ["2025-12-12", "2025-12-19", "2025-12-26"],
                 id="weeks-back-as-of-wednesday"),
    pytest.param(["weeks_back=2", "as_of=2025-12-27"], ["2025-12-26", "2026-01-02"],
                 id="weeks-back-as-of-saturday-starts-next-week"),
    pytest.param(["start_week=2025-11-28", "end_week=2025-12-12"], ["2025-11-28", "2025-12-05", "2025-12-12"],
                 id="start-end-inclusive"),
])
def test_week_lists(project: Path, args, weeks):
    result = doit(project, "backfill", "tier=NMS_TIER_1", *args, SOURCE)
    batch_id = metrics(result.stdout)["batch_id"]
    batch = json.loads((project / "build" / "batches" / f"{batch_id}.json").read_text())
    assert batch["weeks"] == weeks
    assert batch_id.startswith(f"backfill_NMS_TIER_1_{weeks[0]}_{weeks[-1]}_")


def _task_doc(name: str) -> str:
    """The backfill task's doc, as `doit help backfill` shows it (the dodo yields the planned tasks)."""
    from otc.tasks import BACKFILL_DOC, BACKFILL_TASK

    assert name == BACKFILL_TASK
    return BACKFILL_DOC


@pytest.mark.parametrize("command, shows", [
    pytest.param(["list"], "backfill", id="list"),
    pytest.param(["list", "--all"], "backfill", id="list-all"),
    pytest.param(["help"], "doit", id="help"),
    pytest.param(["help", "backfill"], _task_doc("backfill"), id="help-task"),
    pytest.param(["info", "backfill"], "status", id="info"),
])
def test_doit_commands_work_without_variables(project: Path, command, shows):
    result = doit(project, *command)
    # `doit info` exits 1 for a task that is not up to date: `backfill` always runs
    assert result.returncode == (1 if command[0] == "info" else 0), result.stderr
    assert shows in result.stdout
    assert "Traceback" not in result.stderr


def test_list_status_previews_what_would_run(built: Path):
    (built / "data/fixtures/otc/week_2025-12-19.psv").write_text(
        (built / "data/fixtures/otc/week_2025-12-19.psv").read_text() + "2025-12-19|NMS_TIER_1|ZZZZ|NITE|1|1\n")
    result = doit(built, "list", "--all", "--status", *RANGE)
    status = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()}
    stages = {name: s for name, s in status.items() if name.count(":") == 2}  # stage:tier:week
    # the changed week's whole chain; its windows read summaries, so they show once those change
    assert sorted(name for name, s in stages.items() if s == "R") == sorted(
        f"{s}:NMS_TIER_1:2025-12-19" for s in WEEK_STAGES)


def test_parallel_run_builds_the_same_tables_as_a_serial_run(fixture_backfill: FixtureRun, project: Path):
    serial, parallel = fixture_backfill.root, project
    result = doit(parallel, "-n", "2", "-P", "process", "backfill", *RANGE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert metrics(result.stdout)["stages_run"] == "20"
    lineage = {"execution_id", "batch_id", "ingested_at", "created_at", "normalized_at", "calculated_at"}
    for table in sorted(p.name for p in (serial / "build").iterdir() if p.name.startswith("otc_")):
        a = ds.dataset(serial / "build" / table).to_table()
        b = ds.dataset(parallel / "build" / table).to_table()
        keep = [c for c in a.column_names if c not in lineage]
        assert a.select(keep).equals(b.select(keep)), table


def test_manifest_and_batch_file_describe_the_run(fixture_backfill: FixtureRun):
    built = fixture_backfill.root
    manifest = json.loads((built / "build/manifest.json").read_text())
    assert [(e["week_ending"], e["stage"]) for e in manifest] == [
        (w, "SNAPSHOT" if w == "2025-12-26" else "AGGREGATED") for w in FIXTURE_WEEKS]
    dec05 = manifest[2]
    assert (dec05["row_count_raw"], dec05["row_count_parsed"], dec05["row_count_inserted"],
            dec05["row_count_normalized"], dec05["row_count_rejected"]) == (12, 12, 12, 11, 1)
    assert dec05["source_locator"] == "data/fixtures/otc/week_2025-12-05.psv"
    assert len(dec05["source_sha256"]) == 64 and dec05["source_bytes"] > 0
    (batch_file,) = (built / "build/batches").glob("*.json")
    batch = json.loads(batch_file.read_text())
    executions = {e["execution_id"]: e for e in batch["executions"]}
    root = batch["executions"][0]
    assert root["pipeline_name"] == "otc.backfill_range" and root["parent_execution_id"] is None
    expected_parent = {
        "otc.ingest_week": "otc.backfill_range",
        "otc.normalize_week": "otc.ingest_week",
        "otc.aggregate_week": "otc.normalize_week",
        "otc.compute_rolling_6w": "otc.backfill_range",
        "otc.research_snapshot_week": "otc.compute_rolling_6w",
    }
    for execution in batch["executions"][1:]:
        parent = executions[execution["parent_execution_id"]]
        assert parent["pipeline_name"] == expected_parent[execution["pipeline_name"]]
        assert execution["batch_id"] == batch["batch_id"]
    assert len(batch["executions"]) == 21


def test_up_to_date_stage_keeps_the_lineage_of_the_run_that_made_it(fixture_backfill: FixtureRun,
                                                                    fixture_rerun: FixtureRun):
    first_batch_id = metrics(fixture_backfill.result.stdout)["batch_id"]
    batch_id = metrics(fixture_rerun.result.stdout)["batch_id"]
    assert batch_id != first_batch_id
    raw = ds.dataset(fixture_rerun.root / "build/otc_raw").to_table()
    assert set(raw["batch_id"].to_pylist()) == {first_batch_id}
    manifest = fixture_rerun.root / "build/manifest.json"
    assert json.loads(manifest.read_text()) == json.loads((fixture_backfill.root / "build/manifest.json").read_text())


def test_changed_source_reruns_the_rolling_and_snapshot_of_an_earlier_range_that_read_it(built: Path):
    earlier = ["tier=NMS_TIER_1", "start_week=2025-11-21", "end_week=2025-12-19", SOURCE, "skip_report=true"]
    assert doit(built, "backfill", *earlier).returncode == 0  # besides RANGE, built already
    source = built / "data/fixtures/otc/week_2025-12-12.psv"
    source.write_text(source.read_text() + "2025-12-12|NMS_TIER_1|ZZZZ|NITE|100|1\n")
    result = doit(built, "backfill", *RANGE)
    assert sorted(stage_lines(result.stdout)) == sorted(
        _week_and_window("2025-12-12") + ["rolling:NMS_TIER_1:2025-12-19", "snapshot:NMS_TIER_1:2025-12-19"])
    rolling = ds.dataset(built / "build/otc_symbol_rolling_6w").to_table().to_pylist()
    zzzz_weeks = sorted(str(r["week_ending"]) for r in rolling if r["symbol"] == "ZZZZ")
    assert zzzz_weeks == ["2025-12-19", "2025-12-26"]  # both windows now read the new week
    again = doit(built, "backfill", *RANGE)
    assert metrics(again.stdout)["stages_run"] == "0"


def test_moving_the_range_forward_runs_only_the_new_week_and_its_window(project: Path):
    first = doit(project, "backfill", "tier=NMS_TIER_1", "weeks_back=5", "as_of=2025-12-19", SOURCE, "skip_report=true")
    assert first.returncode == 0
    # 2025-11-21 leaves the range; the 2025-12-19 window that read it must stay up to date
    second = doit(project, "backfill", "tier=NMS_TIER_1", "weeks_back=5", "as_of=2025-12-26", SOURCE,
                  "skip_report=true")
    assert sorted(stage_lines(second.stdout)) == _week_and_window("2025-12-26")
    assert metrics(second.stdout)["stages_up_to_date"] == "14"  # 4 weeks x 3 + 12-19's two
