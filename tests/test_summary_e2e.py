"""What the command line tells a newcomer: unknown or repeated parameters, the parameter listing,
and a closing block that says what went wrong with the data (quality, rejects, strict)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doit_helpers import doit, make_project
from otc.errors import ParameterError
from otc.params import PARAMETERS, parse_request


@pytest.mark.parametrize("raw, message", [
    pytest.param({"tier": "T1", "weeks_back": "1", "asof": "2025-12-26"},
                 "Unknown parameter 'asof'; did you mean 'as_of'?", id="typo-of-as_of"),
    pytest.param({"tyer": "x"}, "Unknown parameter 'tyer'; did you mean 'tier'?", id="typo-of-tier"),
    pytest.param({"tier": "T1", "weeks_back": "1", "colour": "red"}, "Unknown parameter 'colour'. Known parameters: tier, ",
                 id="nothing-close"),
])
def test_unknown_parameters_stop_the_run_with_a_suggestion(raw, message):
    with pytest.raises(ParameterError) as excinfo:
        parse_request(raw, today=__import__("datetime").date(2025, 12, 26))
    assert str(excinfo.value).startswith(message)


def test_missing_tier_lists_every_parameter_with_its_default(tmp_path: Path):
    result = doit(make_project(tmp_path / "p", []), "backfill")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines[0] == "ERROR: Missing required parameter: tier"
    for parameter in PARAMETERS:
        assert any(line.split()[0] == f"{parameter.name}={parameter.default}" and parameter.help in line
                   for line in lines[2:] if line.strip()), parameter.name


@pytest.mark.parametrize("args, message", [
    pytest.param(["tier=NMS_TIER_1", "weeks_back=1", "asof=2025-12-26"],
                 "ERROR: Unknown parameter 'asof'; did you mean 'as_of'?", id="unknown"),
    pytest.param(["tier=NMS_TIER_1", "tier=OTC", "weeks_back=1", "as_of=2025-12-26"],
                 "ERROR: Parameter 'tier' given more than once; give each parameter once", id="repeated"),
])
def test_command_line_mistakes_give_one_line_and_non_zero_exit(tmp_path: Path, args, message):
    result = doit(make_project(tmp_path / "p", []), "backfill", *args)
    assert result.returncode != 0
    assert result.stderr.strip() == message
    assert not (tmp_path / "p/build/batches").exists()


@pytest.fixture(scope="module")
def rejected_week(tmp_path_factory) -> Path:
    """One week whose every row is rejected: its checks FAIL."""
    root = make_project(tmp_path_factory.mktemp("rejected") / "p", [])
    source = root / "data/fixtures/otc/week_2025-12-26.psv"
    source.write_text("WeekEnding|Tier|Symbol|MPID|TotalShares|TotalTrades\n"
                      "2025-12-26|NMS_TIER_1|aapl!|NITE|100|1\n2025-12-26|NMS_TIER_1|MSFT|XX|100|1\n")
    return root


ARGS = ["tier=NMS_TIER_1", "weeks_back=1", "as_of=2025-12-26", "source_dir=data/fixtures/otc", "skip_report=true"]


def test_a_week_with_every_row_rejected_says_so(rejected_week: Path):
    result = doit(rejected_week, "backfill", *ARGS, "build_dir=b1")
    assert result.returncode == 0  # COMPLETED: the week was processed
    assert "Status: COMPLETED" in result.stdout
    quality = next(line for line in result.stdout.splitlines() if line.startswith("Quality: "))
    assert quality == ("Quality: 3 FAIL (market_share_sum_100 2025-12-26, symbol_count_positive 2025-12-26, "
                       "venue_count_positive 2025-12-26); 1 WARN (rolling_window_complete 2025-12-26)")
    assert "Rejects: INVALID_MPID 1, INVALID_SYMBOL 1" in result.stdout
    assert "Next: otc status --build-dir b1 | otc sql --build-dir b1" in result.stdout


def test_strict_makes_a_failed_check_a_non_zero_exit(rejected_week: Path):
    result = doit(rejected_week, "backfill", *ARGS, "build_dir=b2", "strict=true")
    assert result.returncode != 0
    assert "strict=true: a quality check is at FAIL (NMS_TIER_1)" in result.stderr
    batch = json.loads(next((rejected_week / "b2/batches").glob("*.json")).read_text())
    assert batch["status"] == "COMPLETED" and batch["strict_failed"] is True


def test_doit_help_backfill_lists_every_parameter(tmp_path: Path):
    result = doit(make_project(tmp_path / "p", []), "help", "backfill")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("backfill  Backfill tiers' weeks")
    for parameter in PARAMETERS:
        assert any(line.split()[:1] == [f"{parameter.name}={parameter.default}"] and parameter.help in line
                   for line in lines), parameter.name


def test_group_tasks_are_up_to_date_when_all_their_stages_are(fixture_backfill, tmp_path: Path):
    from doit_helpers import RANGE, copy_project

    root = copy_project(fixture_backfill.root, tmp_path / "p")
    listed = doit(root, "list", "--status", *RANGE)
    status = dict(line.split()[1::-1][:2] for line in listed.stdout.splitlines())
    assert {status[g] for g in ("ingest", "normalize", "aggregate", "rolling", "snapshot")} == {"U"}
    source = root / "data/fixtures/otc/week_2025-12-19.psv"
    source.write_text(source.read_text() + "2025-12-19|NMS_TIER_1|ZZZZ|NITE|1|1\n")
    listed = doit(root, "list", "--status", *RANGE)
    status = dict(line.split()[1::-1][:2] for line in listed.stdout.splitlines())
    assert [status[g] for g in ("ingest", "normalize", "aggregate", "rolling")] == ["R", "R", "R", "U"]


def test_each_stage_line_says_what_it_counts(fixture_backfill):
    units = {line.split()[0]: " ".join(line.split(": ", 1)[1].split()[1:-3])
             for line in fixture_backfill.result.stdout.splitlines() if line.endswith("]") and " in " in line}
    assert units == {"ingest": "records", "normalize": "accepted", "aggregate": "symbols",
                     "rolling": "symbols", "snapshot": "symbols"}


def test_a_report_that_cannot_be_drawn_leaves_a_page_that_says_why_and_is_not_rerun(tmp_path: Path):
    root = make_project(tmp_path / "p", [])
    (root / "data/fixtures/otc/week_2025-12-26.psv").write_text("Foo|Bar\n1|2\n")
    args = ["tier=NMS_TIER_1", "weeks_back=1", "as_of=2025-12-26", "source_dir=data/fixtures/otc"]
    first = doit(root, "backfill", *args)
    assert "report    NMS_TIER_1 2025-12-26: 0 symbols" in first.stdout and "FAILED: Not run" in first.stdout
    page = (root / "build/report/NMS_TIER_1/2025-12-26.html").read_text()
    assert "NMS_TIER_1 week ending 2025-12-26: no report" in page and "Not run: snapshot failed" in page
    second = doit(root, "backfill", *args)
    assert "report " not in second.stdout and "stages_run: 0" in second.stdout


def test_a_range_whose_report_history_leaves_the_calendar_is_one_line(tmp_path: Path):
    result = doit(make_project(tmp_path / "p", []), "backfill", "tier=OTC", "start_week=0001-03-02",
                  "end_week=0001-03-02", "source_dir=data/fixtures/otc")
    assert result.returncode != 0
    assert result.stderr.strip() == "ERROR: The 26 weeks a report reads back from 0001-03-02 start before year 1"


@pytest.mark.parametrize("variable", [
    pytest.param("source_dir=data/nope", id="no-source-dir"),
    pytest.param("file_pattern=wrong_{week_ending}.psv", id="wrong-file-pattern"),
])
def test_a_run_that_processes_no_week_rewrites_nothing(fixture_backfill, tmp_path: Path, variable: str):
    from doit_helpers import RANGE, copy_project, file_states, metrics

    root = copy_project(fixture_backfill.root, tmp_path / "p")
    args = [arg for arg in RANGE if not arg.startswith(variable.split("=")[0] + "=")] + [variable]
    before = file_states(root / "build")
    result = doit(root, "backfill", *args)
    found = metrics(result.stdout)
    assert result.returncode != 0 and found["status"] == "FAILED"
    assert found["rolling_computed"] == "false" and found["snapshot_built"] == "false"
    after = file_states(root / "build")
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    # only the failed batch's own file and doit's bookkeeping change; no table, record or report
    assert [name for name in changed if not name.startswith("batches/") and name not in (".doit.db", ".lock")] == []
    again = doit(root, "backfill", *RANGE)
    assert metrics(again.stdout)["stages_run"] == "0"  # the next good run redoes nothing
