"""doit entry point: `doit backfill tier=NMS_TIER_1 weeks_back=6` (see README.md)."""

from doit import get_var

from otc.tasks import Build

BUILD = Build.from_vars(get_var)
DOIT_CONFIG = BUILD.doit_config()


def task_backfill():
    """Backfill a tier's weeks: ingest, normalize, aggregate, rolling 6w, snapshot."""
    yield from BUILD.tasks()
