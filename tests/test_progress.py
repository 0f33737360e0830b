"""Where a run is: `[done/total]` on each executed stage's line, and a progress line (elapsed,
estimate of what is left) at least every 10 s of wall time.

The reporter is driven in-process with fake tasks and a clock the test sets; one real
`doit -n 2 -P process` run checks that the counting works when workers execute the stages.
"""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from doit_helpers import RANGE, make_project, stage_lines
from otc.reporting import BackfillReporter, duration, rough_duration, stage_tasks_under

TIER = "NMS_TIER_1"
WEEKS = ["2025-12-12", "2025-12-19", "2025-12-26"]


@dataclasses.dataclass
class FakeTask:
    """The parts of doit's Task the reporter reads."""

    name: str
    task_dep: list[str] = dataclasses.field(default_factory=list)
    setup_tasks: list[str] = dataclasses.field(default_factory=list)
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    verbosity: int = 0
    has_subtask: bool = False
    executed: bool = False


class Clock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def backfill_tasks(weeks: list[str] = WEEKS) -> dict[str, FakeTask]:
    """The task graph of a one-tier backfill as the planner lays it out: each week's three
    stages, rolling/snapshot/report of the last week, group tasks, `batch:<TIER>`, `backfill`."""
    stages = []
    tasks: dict[str, FakeTask] = {}
    for week in weeks:
        previous: list[str] = []
        for stage in ("ingest", "normalize", "aggregate"):
            name = f"{stage}:{TIER}:{week}"
            tasks[name] = FakeTask(name, task_dep=previous)
            previous = [name]
            stages.append(name)
    last = weeks[-1]
    for stage, deps in (("rolling", [f"aggregate:{TIER}:{w}" for w in weeks]),
                        ("snapshot", [f"rolling:{TIER}:{last}"]),
                        ("report", [f"snapshot:{TIER}:{last}"])):
        name = f"{stage}:{TIER}:{last}"
        tasks[name] = FakeTask(name, task_dep=deps)
        stages.append(name)
    for group in ("ingest", "normalize", "aggregate", "rolling", "snapshot", "report"):
        tasks[group] = FakeTask(group, task_dep=[n for n in stages if n.startswith(group + ":")], has_subtask=True)
    tasks[f"batch:{TIER}"] = FakeTask(f"batch:{TIER}", task_dep=list(stages))
    tasks["backfill"] = FakeTask("backfill", task_dep=[f"batch:{TIER}"])
    return tasks


def stage_task(tasks: dict[str, FakeTask], name: str, rows: int = 12, seconds: float = 0.02) -> FakeTask:
    """`tasks[name]` as doit hands it to add_success: with the values run_stage returned."""
    stage, tier, week = name.split(":")
    task = tasks[name]
    task.values = {"stage": stage, "tier": tier, "week_ending": week, "rows": rows, "seconds": seconds,
                   "error": None}
    task.executed = True
    return task


def make_reporter(tasks: dict[str, FakeTask], selected: list[str], clock: Clock,
                  verbosity: int = 0) -> tuple[BackfillReporter, io.StringIO]:
    out = io.StringIO()
    reporter = BackfillReporter(out, {}, clock=clock)
    for task in tasks.values():
        task.verbosity = verbosity
    reporter.initialize(tasks, selected)
    return reporter, out


def run_executed(reporter: BackfillReporter, task: FakeTask, clock: Clock, seconds: float) -> None:
    """What doit does for a stage that runs: get_status, execute_task, (work), add_success."""
    reporter.get_status(task)
    reporter.execute_task(task)
    clock.advance(seconds)
    reporter.add_success(task)


def run_up_to_date(reporter: BackfillReporter, task: FakeTask) -> None:
    reporter.get_status(task)
    reporter.skip_uptodate(task)


# --------------------------------------------------------------------------- the total


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        pytest.param(["backfill"], 12, id="backfill-counts-every-stage-task"),
        pytest.param([f"batch:{TIER}"], 12, id="batch-counts-every-stage-task"),
        pytest.param(["ingest"], 3, id="group-task-counts-its-subtasks"),
        pytest.param([f"normalize:{TIER}:2025-12-19"], 2, id="one-stage-counts-itself-and-what-it-needs"),
        pytest.param([f"report:{TIER}:2025-12-26"], 12, id="report-needs-the-whole-chain"),
        pytest.param([], 0, id="nothing-selected"),
    ],
)
def test_total_counts_the_stage_tasks_the_selection_reaches(selected: list[str], expected: int):
    assert len(stage_tasks_under(backfill_tasks(), selected)) == expected


def test_total_leaves_out_group_batch_and_backfill_tasks():
    names = stage_tasks_under(backfill_tasks(), ["backfill"])
    assert not {"ingest", "report", f"batch:{TIER}", "backfill"} & names
    assert all(name.count(":") == 2 for name in names)


# --------------------------------------------------------------------------- stage lines


def test_each_executed_stage_line_ends_with_done_over_total_counting_up_to_date_stages():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    for name in [f"ingest:{TIER}:2025-12-12", f"normalize:{TIER}:2025-12-12"]:
        run_up_to_date(reporter, tasks[name])
    run_executed(reporter, stage_task(tasks, f"aggregate:{TIER}:2025-12-12", rows=5, seconds=0.039), clock, 0.04)
    run_executed(reporter, stage_task(tasks, f"ingest:{TIER}:2025-12-19", seconds=0.02), clock, 0.02)

    assert out.getvalue().splitlines() == [
        f"aggregate {TIER} 2025-12-12: 5 rows in 0.039s [3/12]",
        f"ingest    {TIER} 2025-12-19: 12 rows in 0.020s [4/12]",
    ]


def test_stage_lines_with_the_counter_still_parse():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    name = f"ingest:{TIER}:2025-12-19"
    run_executed(reporter, stage_task(tasks, name), clock, 0.02)
    assert stage_lines(out.getvalue()) == [name]
    assert re.search(r"in ([0-9.]+)s", out.getvalue()).group(1) == "0.020"  # bench/run.py's stage_seconds


def test_a_failed_stage_line_keeps_its_message_and_ends_with_the_counter():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    task = stage_task(tasks, f"ingest:{TIER}:2025-12-12", rows=0)
    task.values["error"] = "Source file not found"
    run_executed(reporter, task, clock, 0.01)
    assert out.getvalue() == f"ingest    {TIER} 2025-12-12: 0 rows in 0.020s - FAILED: Source file not found [1/12]\n"


def test_up_to_date_stages_are_silent_and_listed_without_counter_at_verbosity_2():
    for verbosity, expected in ((0, ""), (2, f"-- ingest:{TIER}:2025-12-12 (up to date)\n")):
        clock = Clock()
        tasks = backfill_tasks()
        reporter, out = make_reporter(tasks, ["backfill"], clock, verbosity=verbosity)
        run_up_to_date(reporter, tasks[f"ingest:{TIER}:2025-12-12"])
        assert out.getvalue() == expected


def test_a_stage_reported_twice_is_counted_once():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    task = stage_task(tasks, f"ingest:{TIER}:2025-12-12")
    reporter.add_success(task)
    reporter.add_success(task)
    run_executed(reporter, stage_task(tasks, f"normalize:{TIER}:2025-12-12"), clock, 0.02)
    assert out.getvalue().splitlines()[-1].endswith("[2/12]")


def test_tasks_that_are_not_stages_print_nothing_and_do_not_count():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    batch = tasks[f"batch:{TIER}"]
    batch.values = {"status": "COMPLETED"}
    run_executed(reporter, batch, clock, 0.01)
    run_executed(reporter, stage_task(tasks, f"ingest:{TIER}:2025-12-12"), clock, 0.02)
    assert out.getvalue().splitlines() == [f"ingest    {TIER} 2025-12-12: 12 rows in 0.020s [1/12]"]


# --------------------------------------------------------------------------- the progress line


def progress_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"-- \d+/\d+ stages", line)]


def test_no_progress_line_before_10_seconds():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    run_executed(reporter, stage_task(tasks, f"ingest:{TIER}:2025-12-12"), clock, 9.99)
    reporter.get_status(tasks[f"normalize:{TIER}:2025-12-12"])
    assert progress_lines(out.getvalue()) == []


def test_progress_line_says_estimating_before_any_stage_executed():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    clock.advance(4.0)
    run_up_to_date(reporter, tasks[f"ingest:{TIER}:2025-12-12"])
    clock.advance(6.5)
    run_up_to_date(reporter, tasks[f"normalize:{TIER}:2025-12-12"])  # its get_status comes first
    assert progress_lines(out.getvalue()) == ["-- 1/12 stages, 10s elapsed, estimating"]


def test_progress_line_estimates_from_the_rate_of_executed_stages():
    # 2 up-to-date stages in the first second, then 4 stages executed in 12 s: 3 s a stage;
    # 6 stages left -> 18 s. The up-to-date stages are left out of the rate.
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    names = [n for n in tasks if n.count(":") == 2]
    clock.advance(1.0)
    for name in names[:2]:
        run_up_to_date(reporter, tasks[name])
    for name in names[2:6]:
        run_executed(reporter, stage_task(tasks, name), clock, 2.0)
    assert progress_lines(out.getvalue()) == []
    clock.advance(4.0)
    reporter.get_status(tasks[names[6]])
    assert progress_lines(out.getvalue()) == ["-- 6/12 stages, 13s elapsed, about 18s left"]


def test_progress_line_comes_again_every_10_seconds_not_more_often():
    clock = Clock()
    tasks = backfill_tasks([f"2025-{m:02d}-{d:02d}" for m, d in ((10, 3), (10, 10), (10, 17), (10, 24),
                                                                  (10, 31), (11, 7), (11, 14))])
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    names = [n for n in tasks if n.count(":") == 2][:21]
    for name in names:  # 21 stages x 3 s = 63 s: lines at 12, 24 (>= 22), 36, 48, 60 s
        run_executed(reporter, stage_task(tasks, name), clock, 3.0)
    lines = progress_lines(out.getvalue())
    assert [line.split(", ")[1] for line in lines] == [
        "12s elapsed", "24s elapsed", "36s elapsed", "48s elapsed", "1m00s elapsed"]
    assert lines[-1] == "-- 20/24 stages, 1m00s elapsed, about 12s left"


def test_progress_line_follows_the_stage_line_it_comes_after():
    clock = Clock()
    tasks = backfill_tasks()
    reporter, out = make_reporter(tasks, ["backfill"], clock)
    run_executed(reporter, stage_task(tasks, f"ingest:{TIER}:2025-12-12"), clock, 12.0)
    assert out.getvalue().splitlines() == [
        f"ingest    {TIER} 2025-12-12: 12 rows in 0.020s [1/12]",
        "-- 1/12 stages, 12s elapsed, about 2m left",  # 11 stages x 12 s
    ]


def test_long_run_estimate_in_minutes():
    clock = Clock()
    tasks = {f"ingest:{TIER}:w{i}": FakeTask(f"ingest:{TIER}:w{i}") for i in range(3900)}
    reporter, out = make_reporter(tasks, list(tasks), clock)
    names = list(tasks)
    reporter.execute_task(tasks[names[0]])
    for name in names[:312]:
        tasks[name].values = {"stage": "ingest", "tier": TIER, "week_ending": "w", "rows": 1, "seconds": 0.2}
        reporter.add_success(tasks[name])
    clock.advance(64.0)  # 312 stages in 64 s; 3588 left at that rate: 736 s
    reporter.get_status(tasks[names[312]])
    assert progress_lines(out.getvalue()) == ["-- 312/3900 stages, 1m04s elapsed, about 12m left"]


@pytest.mark.parametrize(
    ("seconds", "exact", "rough"),
    [
        pytest.param(0.4, "0s", "0s", id="under-a-second"),
        pytest.param(59.4, "59s", "59s", id="under-a-minute"),
        pytest.param(64.0, "1m04s", "1m", id="a-minute-and-seconds"),
        pytest.param(735.0, "12m15s", "12m", id="minutes-rounded-when-rough"),
        pytest.param(3600.0, "1h00m", "1h00m", id="an-hour"),
        pytest.param(7384.0, "2h03m", "2h03m", id="hours-and-minutes"),
    ],
)
def test_durations_for_people(seconds: float, exact: str, rough: str):
    assert duration(seconds) == exact
    assert rough_duration(seconds) == rough


def test_the_default_clock_is_monotonic():
    import time

    assert BackfillReporter(io.StringIO(), {}).clock is time.monotonic


# --------------------------------------------------------------------------- a real parallel run

#: `python -m doit` with the progress line due on every task event, so a short run shows it.
EVERY_EVENT = ("import sys, otc.reporting as r; r.PROGRESS_EVERY = 0.0; "
               "from doit.doit_cmd import DoitMain; sys.exit(DoitMain().run(sys.argv[1:]))")


@pytest.mark.slow
def test_parallel_process_run_counts_every_stage_in_the_main_process(tmp_path: Path):
    root = make_project(tmp_path / "project")
    done = subprocess.run(
        [sys.executable, "-c", EVERY_EVENT, "-n", "2", "-P", "process", "backfill", *RANGE],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counters = [re.search(r" \[(\d+)/(\d+)\]$", line) for line in done.stdout.splitlines()
                if line.split(" ", 1)[0] in {"ingest", "normalize", "aggregate", "rolling", "snapshot", "report"}]
    assert all(counters), done.stdout
    total = 6 * 3 + 2  # RANGE leaves the report out
    assert sorted(int(m.group(1)) for m in counters) == list(range(1, total + 1))
    assert {int(m.group(2)) for m in counters} == {total}
    progress = progress_lines(done.stdout)
    assert progress, done.stdout
    assert progress[-1].startswith(f"-- {total}/{total} stages, ")
    assert all(re.fullmatch(rf"-- \d+/{total} stages, \d+s elapsed, (estimating|about \d+s left)", line)
               for line in progress), progress
