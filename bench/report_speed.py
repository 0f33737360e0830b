"""What the weekly HTML report costs next to the week it reports on, at 130,000 rows a week.

    python bench/report_speed.py [--rows-per-week 130000] [--history-weeks 26] [--repeats 3]
                                 [--parallel-weeks 12] [--work-dir DIR] [--out results.json]
                                 [--skip-parallel] [--profile]

Generates the weeks once (bench/generate.py, NMS_TIER_1, fixture format, as bench/run.py
does) and keeps them under --work-dir. Then, each repeat (median over --repeats):

  (r1) report against its week: a cold `doit backfill` of --history-weeks weeks (26: the
       report's history is full, so it reads the most), then, from the stage records of the
       range's last week, `report` seconds against the sum of that week's ingest,
       normalize, aggregate, rolling and snapshot seconds (its cold ingest-to-snapshot time)
  (r1') the same for a 6-week backfill (bench/run.py's range: 6 weeks of history)
  (r2) `doit -n 2 -P process backfill` of --parallel-weeks weeks, cold, with the report
       against `skip_report=true`: what the report adds to the wall time (the run's closing
       index and chart library included)

--profile then calls the report stage in this process (otc.runner.run_stage, as doit's
worker does) on the 26-week build under cProfile, first call (imports) and a second one,
and prints the top functions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
TIER = "NMS_TIER_1"
RUN_WEEKS = 6  # bench/run.py's range
TO_SNAPSHOT = ("ingest", "normalize", "aggregate", "rolling", "snapshot")
TARGET = 0.25

sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(PROJECT))
from run import cache_bytecode, machine, run_in_work_dir  # noqa: E402  (bench/run.py)
from scale import Project, cached_data  # noqa: E402  (bench/scale.py)


def record_seconds(build: Path, week: dt.date) -> dict[str, float]:
    """execution.metrics.seconds of each stage record of `week`."""
    found = {}
    for path in (build / "_records" / TIER).glob(f"{week.isoformat()}.*.json"):
        record = json.loads(path.read_text())
        found[record["stage"]] = float(record["execution"]["metrics"]["seconds"])
    return found


def backfill_vars(source: Path, build: Path, weeks: list[dt.date], *extra: str) -> list[str]:
    return [f"tier={TIER}", f"start_week={weeks[0]}", f"end_week={weeks[-1]}", f"source_dir={source}/{{tier}}",
            f"build_dir={build}", "fetch=false", *extra]


class Samples(dict):
    def add(self, key: str, value: float) -> None:
        self.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        return statistics.median(self[key])


def benchmark(args: argparse.Namespace, work: Path, log) -> dict[str, Any]:
    info: dict[str, Any] = {"machine": machine(), "bytecode": cache_bytecode(work / "pycache")}
    n = max(args.history_weeks, args.parallel_weeks, RUN_WEEKS)
    data, weeks = cached_data(work, args.rows_per_week, n, [TIER], args.seed, args.end_week, log)
    project = Project(work / "project", work / "logs")
    s = Samples()
    runs = work / "runs"
    ranges = {"history": weeks[-args.history_weeks:], "run6": weeks[-RUN_WEEKS:]}
    for r in range(args.repeats):
        shutil.rmtree(runs, ignore_errors=True)
        for key, span in ranges.items():
            build = runs / key
            project.backfill(backfill_vars(data, build, span), 3 * len(span) + 3)
            seconds = record_seconds(build, span[-1])
            to_snapshot = sum(seconds[stage] for stage in TO_SNAPSHOT)
            s.add(f"{key}_report", seconds["report"])
            s.add(f"{key}_to_snapshot", to_snapshot)
            s.add(f"{key}_ratio", seconds["report"] / to_snapshot)
            for stage, sec in seconds.items():
                s.add(f"{key}_stage_{stage}", sec)
        if not args.skip_parallel:
            span = weeks[-args.parallel_weeks:]
            for key, extra, stages in (("par_report", (), 3 * len(span) + 3),
                                       ("par_skip", ("skip_report=true",), 3 * len(span) + 2)):
                sec, _, _ = project.backfill(backfill_vars(data, runs / key, span, *extra), stages,
                                             options=("-n", "2", "-P", "process"))
                s.add(key, sec)
            s.add("par_ratio", s["par_report"][-1] / s["par_skip"][-1])
        log(f"repeat {r + 1}/{args.repeats}: report {s['history_report'][-1]:.3f}s against "
            f"{s['history_to_snapshot'][-1]:.3f}s ({s['history_ratio'][-1]:.0%}); 6 weeks: "
            f"{s['run6_report'][-1]:.3f}s against {s['run6_to_snapshot'][-1]:.3f}s"
            + (f"; -n 2: {s['par_report'][-1]:.2f}s against {s['par_skip'][-1]:.2f}s" if "par_ratio" in s else ""))
    if args.profile:
        info["profile"] = profile_report(runs / "history", ranges["history"][-1])
    if not args.keep:
        shutil.rmtree(runs, ignore_errors=True)
    info["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report(args, s, info)


def profile_report(build: Path, week: dt.date) -> dict[str, Any]:
    """The report stage called in this process under cProfile: the first call pays the imports
    (Jinja2, the templates), as the first report of a doit worker does; then a warm call."""
    import cProfile
    import pstats

    from otc.layout import Layout, Stage
    from otc.lineage import Batch, new_execution_id, utc_now
    from otc.runner import StageJob, run_stage
    from otc.stage import Options
    from otc.stages import SPECS
    from otc.tiers import Tier

    job = StageJob(Tier(TIER), week, Layout(build), Options())
    found: dict[str, Any] = {}
    for name in ("first_call", "warm_call"):
        profiler = cProfile.Profile()
        clock = time.perf_counter()
        profiler.enable()
        values = run_stage(SPECS[Stage.REPORT], job, Batch("bench_report", new_execution_id(), utc_now()))
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(30)
        found[name] = {"seconds": round(time.perf_counter() - clock, 3), "stage_seconds": values["seconds"],
                       "error": values["error"], "cumulative": text.getvalue()}
    return found


def report(args: argparse.Namespace, s: Samples, info: dict[str, Any]) -> dict[str, Any]:
    measures: list[dict[str, Any]] = []

    def measure(key, label, value, unit, target=None, met=None, samples=None):
        measures.append({"key": key, "measure": label, "value": round(value, 4), "unit": unit, "target": target,
                         "met": met, "samples": [round(x, 4) for x in samples] if samples else None})

    rows = f"{args.rows_per_week:,} rows"
    for key, span in (("history", args.history_weeks), ("run6", RUN_WEEKS)):
        ratio = s.median(f"{key}_ratio")
        measure(f"{key}_report", f"(r1) report of the last of {span} weeks x {rows} (record seconds)",
                s.median(f"{key}_report"), "s", samples=s[f"{key}_report"])
        measure(f"{key}_to_snapshot", "(r1) that week's ingest..snapshot (sum of 5 records)",
                s.median(f"{key}_to_snapshot"), "s", samples=s[f"{key}_to_snapshot"])
        measure(f"{key}_ratio", f"(r1) report / ingest..snapshot, {span}-week run", ratio, "x",
                f"<= {TARGET}", ratio <= TARGET, s[f"{key}_ratio"])
    if "par_ratio" in s:
        ratio = s.median("par_ratio")
        measure("par_report", f"(r2) `doit -n 2 -P process backfill`, {args.parallel_weeks} weeks x {rows}, "
                "with the report", s.median("par_report"), "s", samples=s["par_report"])
        measure("par_skip", "(r2) the same with skip_report=true", s.median("par_skip"), "s", samples=s["par_skip"])
        measure("par_ratio", "(r2) with / without the report (median of per-repeat ratios)", ratio, "x",
                f"<= {1 + TARGET}", ratio <= 1 + TARGET, s["par_ratio"])
    stages = {key: {k[len(key) + 7:]: round(statistics.median(v), 4) for k, v in s.items()
                    if k.startswith(f"{key}_stage_")} for key in ("history", "run6")}
    return {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "parameters": {k: (v.isoformat() if isinstance(v, dt.date) else str(v) if isinstance(v, Path) else v)
                       for k, v in vars(args).items()},
        "measures": measures,
        "last_week_stage_seconds": stages,
        **info,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| measure | value | target | met | samples |", "|---|---:|---|---|---|"]
    for m in result["measures"]:
        met = "" if m["met"] is None else ("yes" if m["met"] else "no")
        samples = ", ".join(f"{x:g}" for x in m["samples"]) if m["samples"] else ""
        lines.append(f"| {m['measure']} | {m['value']:.3f} {m['unit']} | {m['target'] or ''} | {met} | {samples} |")
    mach = result["machine"]
    lines += [
        "",
        f"The last week's stage records (median, s): {result['last_week_stage_seconds']}",
        f"Machine: nproc {mach['nproc']} ({mach['cpus_usable']} usable), {mach['cpu_model']}, "
        f"{mach['memory_gib']} GiB, Python {mach['python']}, {mach['versions']}; load average "
        f"{mach['load_average_at_start']} at start, {mach['load_average_at_end']} at end; project {mach['project']}",
        f"Bytecode: {result['bytecode']}",
        f"Command: {result['command']}",
    ]
    for name, found in result.get("profile", {}).items():
        lines += ["", f"cProfile of the report stage, {name} ({found['seconds']} s; the stage's own clock "
                  f"{found['stage_seconds']} s):", "```", found["cumulative"].strip(), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-per-week", type=int, default=130_000)
    parser.add_argument("--history-weeks", type=int, default=26, help="the report reads up to 26 weeks")
    parser.add_argument("--parallel-weeks", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "otc-bench-report",
                        help="where the generated data is cached (kept) and the runs go")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-week", type=dt.date.fromisoformat, default=dt.date(2025, 12, 26))
    parser.add_argument("--skip-parallel", action="store_true", help="leave out (r2)")
    parser.add_argument("--profile", action="store_true", help="cProfile the report stage in-process")
    parser.add_argument("--keep", action="store_true", help="keep the last repeat's build directories")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.history_weeks < 1 or args.parallel_weeks < 1 or args.repeats < 1:
        parser.error("--history-weeks, --parallel-weeks and --repeats must be at least 1")

    return run_in_work_dir("report_speed", args, benchmark, markdown)


if __name__ == "__main__":
    sys.exit(main())
