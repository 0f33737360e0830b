"""Where a stage's time goes, part by part.

    python bench/stage_parts.py BUILD_DIR [--tier NMS_TIER_1] [--stages rolling snapshot]
                                [--weeks 52] [--end-week 2025-12-26]
    python bench/stage_parts.py NEW_BUILD_DIR --source-dir DIR [--tier NMS_TIER_1] [--weeks 52]

Runs stages in this process (otc.runner.run_stage, as doit's action does), after one
unmeasured week for the imports, and prints per stage the milliseconds a week spent reading
its upstream records, reading its input tables, in the stage's function, writing its tables
and writing its record, and the total.

Without --source-dir, runs --stages again for the last --weeks weeks of BUILD_DIR, one
stage over all the weeks, then the next: it rewrites their outputs with the same values (new
ids and times), so run it on a build you can rebuild. With --source-dir, builds the --weeks
weeks from DIR's week files into NEW_BUILD_DIR as a serial `windows=all` run does: each
week's ingest, normalize, aggregate, rolling and snapshot in turn, so each stage reads what
the ones before it just wrote from memory, as in a run.
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
WEEK_STAGES = (Stage.INGEST, Stage.NORMALIZE, Stage.AGGREGATE, Stage.ROLLING, Stage.SNAPSHOT)


def measure(runs: list[tuple[Stage, runner.StageJob]], warm_up: int) -> dict[Stage, dict[str, float]]:
    """Milliseconds a week, by part, of each stage in `runs` (run in that order), leaving the
    first `warm_up` runs unmeasured."""
    spent: dict[Stage, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    weeks: collections.Counter[Stage] = collections.Counter()
    current: list[Stage] = []

    def timed(part: str, function):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if current:
                    spent[current[0]][part] += time.perf_counter() - started
        return call

    specs = {stage: dataclasses.replace(SPECS[stage], compute=timed("compute", SPECS[stage].compute))
             for stage in {stage for stage, _ in runs}}
    batch = Batch("bench_stage_parts", new_execution_id(), utc_now())
    originals = {name: getattr(runner, name) for name in PARTS}
    try:
        for name, part in PARTS.items():
            setattr(runner, name, timed(part, originals[name]))
        for index, (stage, job) in enumerate(runs):
            if index < warm_up:
                runner.run_stage(specs[stage], job, batch)
                continue
            current[:] = [stage]
            started = time.perf_counter()
            runner.run_stage(specs[stage], job, batch)
            spent[stage]["total"] += time.perf_counter() - started
            weeks[stage] += 1
            current.clear()
    finally:
        for name, function in originals.items():
            setattr(runner, name, function)
    return {stage: {part: round(seconds / weeks[stage] * 1000, 2) for part, seconds in parts.items()}
            for stage, parts in spent.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("--source-dir", type=Path, help="build the weeks from these week files, week by week")
    parser.add_argument("--tier", default="NMS_TIER_1")
    parser.add_argument("--stages", nargs="+", default=["rolling", "snapshot"])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--end-week", type=dt.date.fromisoformat, default=dt.date(2025, 12, 26))
    args = parser.parse_args(argv)
    note_missing_modules()  # as a run does
    tier, layout = Tier(args.tier), Layout(args.build)
    if args.source_dir is not None:
        if args.build.exists() and any(args.build.iterdir()):
            parser.error(f"{args.build} is not empty: --source-dir builds into a new directory")
        weeks = weeks_back(args.weeks + 1, args.end_week)  # the first, unmeasured, for the imports
        runs = [(stage, runner.StageJob(tier, week, layout, Options(), args.source_dir / f"week_{week}.psv"))
                for week in weeks for stage in WEEK_STAGES]
        parts = measure(runs, warm_up=len(WEEK_STAGES))
    else:
        weeks = weeks_back(args.weeks, args.end_week)
        parts = {}
        for name in args.stages:
            jobs = [runner.StageJob(tier, week, layout, Options()) for week in weeks]
            parts.update(measure([(Stage(name), job) for job in [jobs[0], *jobs]], warm_up=1))
    for stage, by_part in parts.items():
        print(f"{stage.value}: " + ", ".join(f"{part} {ms} ms" for part, ms in by_part.items()) + " (a week)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
