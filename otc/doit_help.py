"""`doit help backfill`: doit's own task help, then every `name=value` parameter of the backfill.

Registered as doit's `help` command through the package's entry points (`doit.COMMAND`), so
it works wherever the package is installed; for any other task or command it is doit's help.
"""

from __future__ import annotations

from doit.cmd_help import Help

from otc.params import parameters_help
from otc.tasks import BACKFILL_TASK


class BackfillHelp(Help):
    """doit's `help`; for the backfill task it also lists the parameters, from the one table."""

    name = "help"

    def _execute(self, pos_args):
        found = super()._execute(pos_args)
        if found and pos_args and pos_args[0] == BACKFILL_TASK:
            print()
            print(parameters_help())
        return found
