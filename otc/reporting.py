"""What a backfill prints while it runs: one line per stage executed, one line per failure, and
where the run is (`[done/total]` on each stage line, elapsed time and an estimate every 10 s)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

from doit.exceptions import InvalidTask, TaskFailed
from doit.reporter import ConsoleReporter

from otc.errors import BuildDirBusy
from otc.layout import Stage
from otc.session import RunSession

STAGE_NAMES = frozenset(stage.value for stage in Stage)
#: How often (wall seconds, at least) a run prints its progress line.
PROGRESS_EVERY = 10.0


class UserFailure(TaskFailed):
    """A failure the user caused or must know about: reported as one line, no traceback."""


def is_stage_task(name: str) -> bool:
    """`ingest:NMS_TIER_1:2025-12-19` is; the group task `ingest`, `batch:OTC` and `backfill` are not."""
    basename, colon, _ = name.partition(":")
    return bool(colon) and basename in STAGE_NAMES


def stage_tasks_under(tasks: Mapping[str, object], selected: Iterable[str]) -> set[str]:
    """The stage tasks among `selected` and everything they depend on (task_dep, setup tasks)."""
    seen: set[str] = set()
    todo = [name for name in selected if name in tasks]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        task = tasks[name]
        todo += [dep for dep in (*getattr(task, "task_dep", ()), *getattr(task, "setup_tasks", ()))
                 if dep in tasks and dep not in seen]
    return {name for name in seen if is_stage_task(name)}


def duration(seconds: float) -> str:
    """`8s`, `1m04s`, `2h03m`: how long, for people."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def rough_duration(seconds: float) -> str:
    """`40s`, `12m`, `1h05m`: an estimate, no finer than it deserves."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{int(round(seconds / 60))}m"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Progress:
    """Where a run is: how many of its stage tasks are done (executed, failed or up to date),
    and how long the rest should take at the rate stages have executed so far.

    Time comes from `clock` (monotonic seconds), so tests can drive it.
    """

    def __init__(self, stage_names: Iterable[str], clock: Callable[[], float], every: float | None = None):
        self.stages = frozenset(stage_names)
        self.clock = clock
        self.every = PROGRESS_EVERY if every is None else every
        self.started = clock()
        self.last_line = self.started
        self.done: set[str] = set()
        self.executed = 0
        self.first_execution: float | None = None  # when the first executed stage started

    @property
    def total(self) -> int:
        return len(self.stages)

    def counter(self) -> str:
        return f"[{len(self.done)}/{self.total}]"

    def started_execution(self, name: str) -> None:
        if name in self.stages and self.first_execution is None:
            self.first_execution = self.clock()

    def finished(self, name: str, executed: bool) -> bool:
        """Count a stage task as done; False if it is no stage of this run or already counted."""
        if name not in self.stages or name in self.done:
            return False
        self.done.add(name)
        if executed:
            self.executed += 1
        return True

    def seconds_left(self, now: float) -> float | None:
        """The stages left at the wall-clock rate of the executed ones so far (None: no rate yet).

        Up-to-date stages cost next to nothing, so they are left out of the rate; the stages
        still to come are all counted as if they will execute."""
        if not self.executed or self.first_execution is None or now <= self.first_execution:
            return None
        per_stage = (now - self.first_execution) / self.executed
        return per_stage * (self.total - len(self.done))

    def due_line(self) -> str | None:
        """The progress line, when `every` seconds have passed since the last one (or the start)."""
        now = self.clock()
        if now - self.last_line < self.every:
            return None
        self.last_line = now
        left = self.seconds_left(now)
        estimate = "estimating" if left is None else f"about {rough_duration(left)} left"
        return (f"-- {len(self.done)}/{self.total} stages, {duration(now - self.started)} elapsed, "
                f"{estimate}")


class BackfillReporter(ConsoleReporter):
    """doit's console reporter, quieter: up-to-date stages are counted (listed with `-v 2`).

    Each executed stage's line ends with `[done/total]`, done counting the stages finished so
    far (executed or up to date); at least every 10 s of wall time, checked on each task
    event (no thread), a line gives the elapsed time and an estimate of what is left. With
    `doit -n N -P process` every event reaches this reporter in doit's main process.

    doit calls `initialize` and `complete_run` only for commands that execute tasks, so they
    are where the run's session opens and closes (`session` is set by `reporter_for`).
    """

    desc = "one line per stage executed; up-to-date stages listed only with -v 2"
    session: RunSession | None = None

    def __init__(self, outstream, options, clock: Callable[[], float] = time.monotonic):
        super().__init__(outstream, options)
        self.user_errors: list[str] = []
        self.clock = clock
        self.progress = Progress((), clock)

    def initialize(self, tasks, selected_tasks) -> None:
        self.progress = Progress(stage_tasks_under(tasks, selected_tasks), self.clock)
        if self.session is None:
            return
        build_dirs = [Path(t.meta["build_dir"]) for t in tasks.values() if t.meta and "build_dir" in t.meta]
        source_dirs = [Path(t.meta["source_dir"]) for t in tasks.values() if t.meta and "source_dir" in t.meta]
        try:
            self.session.open(build_dirs, source_dirs)
        except BuildDirBusy as exc:
            raise InvalidTask(str(exc)) from None

    def runtime_error(self, msg) -> None:
        self.user_errors.append(msg)

    def complete_run(self) -> None:
        for message in self.user_errors:
            sys.stderr.write(f"ERROR: {message}\n")
        self.user_errors.clear()
        super().complete_run()
        if self.session is not None:
            self.session.close()

    def get_status(self, task) -> None:
        self._tick()

    def execute_task(self, task) -> None:
        self.progress.started_execution(task.name)
        self._tick()

    def add_success(self, task) -> None:
        counted = self.progress.finished(task.name, executed=True)
        values = task.values or {}
        if "stage" in values:
            line = (f"{values['stage']:<9} {values['tier']} {values['week_ending']}: "
                    f"{values['rows']} {values.get('unit', 'rows')} in {values['seconds']:.3f}s")
            if values.get("error"):
                line += f" - FAILED: {values['error']}"
            if counted:
                line += f" {self.progress.counter()}"
            self.write(line + "\n")
        self._tick()

    def skip_uptodate(self, task) -> None:
        self.progress.finished(task.name, executed=False)
        # task.verbosity is already the effective verbosity: `-v 2` raises it for every task
        if task.verbosity >= 2 and not task.has_subtask:
            self.write(f"-- {task.name} (up to date)\n")
        self._tick()

    def skip_ignore(self, task) -> None:
        self.progress.finished(task.name, executed=False)
        super().skip_ignore(task)
        self._tick()

    def add_failure(self, task, fail) -> None:
        self.progress.finished(task.name, executed=bool(getattr(task, "executed", False)))
        if isinstance(fail, UserFailure):
            sys.stderr.write(f"ERROR: {fail.message}\n")
        else:
            super().add_failure(task, fail)
        self._tick()

    def _tick(self) -> None:
        line = self.progress.due_line()
        if line:
            self.write(line + "\n")


def reporter_for(session: RunSession) -> type[BackfillReporter]:
    """The reporter class doit instantiates, bound to this run's session."""
    return type(BackfillReporter.__name__, (BackfillReporter,), {"session": session})
