"""What a backfill prints while it runs: one line per stage executed, one line per failure."""

from __future__ import annotations

import sys
from pathlib import Path

from doit.exceptions import InvalidTask, TaskFailed
from doit.reporter import ConsoleReporter

from otc.errors import BuildDirBusy
from otc.session import RunSession


class UserFailure(TaskFailed):
    """A failure the user caused or must know about: reported as one line, no traceback."""


class BackfillReporter(ConsoleReporter):
    """doit's console reporter, quieter: up-to-date stages are counted (listed with `-v 2`).

    doit calls `initialize` and `complete_run` only for commands that execute tasks, so they
    are where the run's session opens and closes (`session` is set by `reporter_for`).
    """

    desc = "one line per stage executed; up-to-date stages listed only with -v 2"
    session: RunSession | None = None

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self.user_errors: list[str] = []

    def initialize(self, tasks, selected_tasks) -> None:
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

    def execute_task(self, task) -> None:
        pass

    def add_success(self, task) -> None:
        values = task.values or {}
        if "stage" not in values:
            return
        line = (f"{values['stage']:<9} {values['tier']} {values['week_ending']}: "
                f"{values['rows']} rows in {values['seconds']:.3f}s")
        if values.get("error"):
            line += f" - FAILED: {values['error']}"
        self.write(line + "\n")

    def skip_uptodate(self, task) -> None:
        # task.verbosity is already the effective verbosity: `-v 2` raises it for every task
        if task.verbosity >= 2 and not task.has_subtask:
            self.write(f"-- {task.name} (up to date)\n")

    def add_failure(self, task, fail) -> None:
        if isinstance(fail, UserFailure):
            sys.stderr.write(f"ERROR: {fail.message}\n")
            return
        super().add_failure(task, fail)


def reporter_for(session: RunSession) -> type[BackfillReporter]:
    """The reporter class doit instantiates, bound to this run's session."""
    return type(BackfillReporter.__name__, (BackfillReporter,), {"session": session})
