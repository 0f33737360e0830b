"""What a backfill prints while it runs: one line per stage executed, one line per failure."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from doit.exceptions import InvalidTask
from doit.reporter import ConsoleReporter

from otc.layout import Layout
from otc.runlock import BuildDirBusy, RunLock, sweep_temporary_files


class BackfillReporter(ConsoleReporter):
    """doit's console reporter, quieter: up-to-date stages are counted (listed with `-v 2`).

    It also opens and closes the run: before any task executes it takes the build
    directory's lock (so two runs never meet), removes temporary files a killed run left,
    and freezes the objects already alive; doit calls `initialize` only for commands that
    execute tasks.
    """

    desc = "one line per stage executed; up-to-date stages listed only with -v 2"

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self.locks: list[RunLock] = []
        self.user_errors: list[str] = []

    def initialize(self, tasks, selected_tasks) -> None:
        build_dirs = sorted({t.meta["build_dir"] for t in tasks.values() if t.meta and "build_dir" in t.meta})
        for build_dir in build_dirs:
            lock = RunLock(Layout(Path(build_dir)).lock_file)
            try:
                lock.acquire()
            except BuildDirBusy as exc:
                raise InvalidTask(str(exc)) from None
            self.locks.append(lock)
            sweep_temporary_files(Path(build_dir))
        # What is alive now (modules, the task list) lives until exit. Frozen, it is no longer
        # walked by every full garbage collection, nor by the last one at exit (30 ms), and
        # the workers of `doit -n N -P process`, forked next, share its pages instead of
        # copying them (see gc.freeze).
        gc.freeze()

    def runtime_error(self, msg) -> None:
        self.user_errors.append(msg)

    def complete_run(self) -> None:
        for message in self.user_errors:
            sys.stderr.write(f"ERROR: {message}\n")
        self.user_errors.clear()
        super().complete_run()
        for lock in self.locks:
            lock.release()

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
        if fail.__class__.__name__ == "UserFailure":
            sys.stderr.write(f"ERROR: {fail.message}\n")
            return
        super().add_failure(task, fail)
