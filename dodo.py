"""doit entry point: `doit backfill tier=NMS_TIER_1 weeks_back=6` (see README.md)."""

from otc.plan import Build, doit_variables

BUILD = Build.from_vars(doit_variables())
DOIT_CONFIG = BUILD.doit_config()


def task_backfill():
    """The backfill's tasks, as otc.plan planned them for these variables."""
    yield from BUILD.tasks()
