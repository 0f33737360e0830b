"""Where a stage's time goes, part by part, on weeks a backfill already built.

    python bench/stage_parts.py BUILD_DIR [--tier NMS_TIER_1] [--stages rolling snapshot]
                                [--weeks 52] [--end-week 2025-12-26]

Runs each stage again in this process (otc.runner.run_stage, as doit's action does) for the
last --weeks weeks of BUILD_DIR, one week after another as a serial `windows=all` run does,
after one unmeasured run for the imports. Prints, per stage, the milliseconds a week spent
reading inputs (records and tables), in the stage's function, writing its tables and writing
its record, and the total. The stages rewrite their outputs with the same values (new ids
and times), so run it on a build you can rebuild.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otc import runner  # noqa: E402
from otc.layout import Layout, Stage  # noqa: E402
from otc.lineage import Batch, new_execution_id, utc_now  # noqa: E402
from otc.session import note_missing_modules  # noqa: E402
from otc.stage import Options  # noqa: E402
from otc.stages import SPECS  # noqa: E402
from otc.tiers import Tier  # noqa: E402
from otc.weeks import weeks_back  # noqa: E402

PARTS = {"_upstream_records": "records", "_read_inputs": "read", "write_tables": "write tables",
         "write_json": "write record"}


def measure(build: Path, tier: Tier, stage: Stage, weeks: list[dt.date]) -> dict[str, float]:
    """Milliseconds a week, by part, of `stage` over `weeks`."""
    spent: collections.Counter[str] = collections.Counter()

    def timed(part: str, function):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - started
        return call

    originals = {name: getattr(runner, name) for name in PARTS}
    spec = SPECS[stage]
    spec = dataclasses.replace(spec, compute=timed("compute", spec.compute))
    batch = Batch("bench_stage_parts", new_execution_id(), utc_now())
    jobs = [runner.StageJob(tier, week, Layout(build), Options()) for week in weeks]
    runner.run_stage(spec, jobs[0], batch)  # imports, caches of the first week
    spent.clear()
    try:
        for name, part in PARTS.items():
            setattr(runner, name, timed(part, originals[name]))
        started = time.perf_counter()
        for job in jobs:
            runner.run_stage(spec, job, batch)
        spent["total"] = time.perf_counter() - started
    finally:
        for name, function in originals.items():
            setattr(runner, name, function)
    return {part: round(seconds / len(weeks) * 1000, 2) for part, seconds in spent.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("--tier", default="NMS_TIER_1")
    parser.add_argument("--stages", nargs="+", default=["rolling", "snapshot"])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--end-week", type=dt.date.fromisoformat, default=dt.date(2025, 12, 26))
    args = parser.parse_args(argv)
    note_missing_modules()  # as a run does
    weeks = weeks_back(args.weeks, args.end_week)
    for name in args.stages:
        parts = measure(args.build, Tier(args.tier), Stage(name), weeks)
        print(f"{name}: " + ", ".join(f"{part} {ms} ms" for part, ms in parts.items()) + " (a week)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
