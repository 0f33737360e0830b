"""What a backfill prints while it runs: one line per stage executed, one line per failure."""

from __future__ import annotations

import sys

from doit.reporter import ConsoleReporter


class BackfillReporter(ConsoleReporter):
    """doit's console reporter, quieter: up-to-date stages are counted (listed with `-v 2`)."""

    desc = "one line per stage executed; up-to-date stages listed only with -v 2"

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
