"""How `doit backfill` scales to years: 5 years x 3 tiers of generated weeks, `windows=all`.

    python bench/scale.py [--years 5 | --weeks N] [--rows-per-week 20000]
                          [--tiers NMS_TIER_1,NMS_TIER_2,OTC] [--repeats 3] [--work-dir DIR] [--out results.json]
                          [--skip-windows-last] [--skip-reference-130k] [--profile]

Generates 52 x --years weeks (or --weeks) per tier once (bench/generate.py, fixture format) and keeps
them under --work-dir, so the next invocation with the same sizes reuses them. Then, each
repeat, interleaved (median over --repeats):

  (s1) cold: `doit backfill tier=all` of every tier-week, `windows=all skip_report=true`,
       into an empty build directory, one invocation; its rows/s against the rows/s of
       smaller cold runs with the same options: the last 6 weeks of the first tier at the
       same rows per week, 6 weeks x 130,000 rows (bench/run.py's size), and the last
       --linear-weeks (52) weeks of the first tier, where the fixed costs of one command
       (interpreter, imports) are already spread thin: the linearity check proper
  (s2) identical re-run of (s1): nothing to do
  (s3) `doit list --all --status` with (s1)'s variables, on (s1)'s build
  (s4) peak RSS of (s1): the doit process, from os.wait4's rusage (serial doit: one process)
  (s5) (s1) with `windows=last`, cold: what `windows=all` adds

Each figure is wall time (the targets); the CPU seconds (user and system) of the same
commands are shown beside them, being less moved by other processes on the machine.

Every command runs as a subprocess from a directory holding a copy of dodo.py, as a user
runs it, with `source_dir=<data>/{tier}` so nothing touches the network. --profile also runs
(s2) and (s3) under cProfile once, and the rolling and snapshot stages of the first tier's
last --linear-weeks weeks in-process on (s1)'s build, and prints their top functions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
PYTHON = sys.executable
ALL_TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
REFERENCE_WEEKS = 6
REFERENCE_BIG_ROWS = 130_000
GIB = 1024  # MiB
STAGE_LINE = re.compile(r"^(fetch|ingest|normalize|aggregate|rolling|snapshot|report)\s+\S+\s+\S+:.*? in ([0-9.]+)s",
                        re.M)

sys.path.insert(0, str(BENCH))
import generate  # noqa: E402  (bench/generate.py)
from run import cache_bytecode, machine, run_in_work_dir  # noqa: E402  (bench/run.py)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- running doit


def run_measured(cmd: list[str], cwd: Path, log_file: Path) -> tuple[float, float, float, str, int]:
    """Wall seconds, CPU seconds (user and system), peak RSS (MiB) of the process (and of the
    children it waited for), its output and exit code. Output goes to a file, so nothing has
    to be drained while it runs."""
    with open(log_file, "w+") as out:
        clock = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - clock
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text, proc.returncode


class Project:
    """A directory holding a copy of dodo.py, where `doit` runs."""

    def __init__(self, home: Path, logs: Path):
        self.home = home
        self.logs = logs
        home.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / "dodo.py", home / "dodo.py")
        self.count = 0
        self.last_cpu = 0.0  # CPU seconds of the last command: less moved by other processes than wall time

    def doit(self, *args: str, wrapper: tuple[str, ...] = ()) -> tuple[float, float, str]:
        cmd = [*wrapper, PYTHON, "-m", "doit", *args]
        self.count += 1
        log = self.logs / f"{self.count:03d}.log"
        seconds, self.last_cpu, mib, text, code = run_measured(cmd, self.home, log)
        if code != 0:
            raise BenchError(f"exit {code}: {shlex.join(cmd)}\n{text[-3000:]}")
        return seconds, mib, text

    def backfill(self, variables: list[str], expect_stages: int, options: tuple[str, ...] = ()
                 ) -> tuple[float, float, str]:
        seconds, mib, text = self.doit(*options, "backfill", *variables)
        statuses = re.findall(r"^Status:\s*(\S+)", text, re.M)
        if not statuses or any(s != "COMPLETED" for s in statuses):
            raise BenchError(f"backfill did not complete ({statuses}): {shlex.join(variables)}\n{text[-3000:]}")
        ran = len(STAGE_LINE.findall(text))
        if ran != expect_stages:
            raise BenchError(f"expected {expect_stages} stages to run, {ran} did: {shlex.join(variables)}\n"
                             f"{text[-3000:]}")
        return seconds, mib, text


def stage_seconds(output: str) -> dict[str, float]:
    """Seconds inside the stages, per stage kind, from the reporter's lines."""
    totals: dict[str, float] = {}
    for stage, seconds in STAGE_LINE.findall(output):
        totals[stage] = totals.get(stage, 0.0) + float(seconds)
    return totals


def variables(source: Path, build: Path, tiers: list[str], start: dt.date, end: dt.date,
              windows: str = "all") -> list[str]:
    return [f"tier={','.join(tiers)}", f"start_week={start}", f"end_week={end}",
            f"source_dir={source}/{{tier}}", f"build_dir={build}", f"windows={windows}",
            "skip_report=true", "fetch=false"]


def expected_stages(tiers: int, weeks: int, windows: str) -> int:
    """Stages a cold run executes with skip_report: 3 a week, then rolling and snapshot for each
    range end (every week with windows=all, the last with windows=last)."""
    return tiers * (3 * weeks + 2 * (weeks if windows == "all" else 1))


# --------------------------------------------------------------------------- the data, cached


def cached_data(work: Path, rows: int, weeks: int, tiers: list[str], seed: int, end_week: dt.date, log
                ) -> tuple[Path, list[dt.date]]:
    """`work/data/<key>/<tier>/week_*.psv`, generated once for these sizes; its weeks."""
    key = f"r{rows}_w{weeks}_s{seed}_e{end_week}"
    folder = work / "data" / key
    weeks_list = generate.fridays(end_week, weeks)
    for tier in tiers:
        done = folder / f".{tier.lower()}.complete"
        if done.exists():
            continue
        clock = time.perf_counter()
        generate.generate(folder, rows, weeks, [tier], "fixture", 0.0, seed, end_week)
        done.write_text(f"{weeks} weeks x {rows} rows\n")
        log(f"generated {tier}: {weeks} weeks x {rows:,} rows in {time.perf_counter() - clock:.1f}s under {folder}")
    return folder, weeks_list


# --------------------------------------------------------------------------- the benchmark


class Samples(dict):
    def add(self, key: str, value: float) -> None:
        self.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        return statistics.median(self[key])


def benchmark(args: argparse.Namespace, work: Path, log) -> dict[str, Any]:
    tiers, rows = args.tiers, args.rows_per_week
    n_weeks = args.weeks
    info: dict[str, Any] = {"machine": machine(), "bytecode": cache_bytecode(work / "pycache")}
    data, weeks = cached_data(work, rows, n_weeks, tiers, args.seed, args.end_week, log)
    ref_weeks = weeks[-REFERENCE_WEEKS:]
    big_ref = None
    if not args.skip_reference_130k:
        big_ref, _ = cached_data(work, REFERENCE_BIG_ROWS, REFERENCE_WEEKS, tiers[:1], args.seed, args.end_week, log)
    project = Project(work / "project", work / "logs")
    s = Samples()
    total_rows = rows * n_weeks * len(tiers)
    cold_stages = expected_stages(len(tiers), n_weeks, "all")
    runs = work / "runs"

    for r in range(args.repeats):
        shutil.rmtree(runs, ignore_errors=True)
        # the 6-week references, the same options
        sec, _, _ = project.backfill(variables(data, runs / "ref", tiers[:1], ref_weeks[0], ref_weeks[-1]),
                                     expected_stages(1, REFERENCE_WEEKS, "all"))
        s.add("ref6", sec)
        s.add("ref6_cpu", project.last_cpu)
        if args.linear_weeks:
            span = weeks[-args.linear_weeks:]
            sec, _, _ = project.backfill(variables(data, runs / "ref_linear", tiers[:1], span[0], span[-1]),
                                         expected_stages(1, len(span), "all"))
            s.add("ref_linear", sec)
            s.add("ref_linear_cpu", project.last_cpu)
        if big_ref is not None:
            sec, _, _ = project.backfill(variables(big_ref, runs / "ref130", tiers[:1], ref_weeks[0], ref_weeks[-1]),
                                         expected_stages(1, REFERENCE_WEEKS, "all"))
            s.add("ref6_130k", sec)
            s.add("ref6_130k_cpu", project.last_cpu)
        # (s1) cold, (s4) its peak RSS
        build = runs / "build"
        big = variables(data, build, tiers, weeks[0], weeks[-1])
        sec, mib, text = project.backfill(big, cold_stages)
        s.add("cold", sec)
        s.add("cold_cpu", project.last_cpu)
        s.add("cold_rss_mib", mib)
        for stage, seconds in stage_seconds(text).items():
            s.add(f"cold_stage_{stage}", seconds)
        progress = [line for line in text.splitlines() if re.match(r"-- \d+/\d+ stages", line)]
        info["cold_progress_lines"] = progress[:3] + (["..."] if len(progress) > 3 else [])
        # (s2) identical re-run
        sec, mib, _ = project.backfill(big, 0)
        s.add("rerun", sec)
        s.add("rerun_cpu", project.last_cpu)
        s.add("rerun_rss_mib", mib)
        # (s3) doit list --all --status
        sec, _, listing = project.doit("list", "--all", "--status", *big)
        s.add("list_status", sec)
        s.add("list_status_cpu", project.last_cpu)
        info["list_status_lines"] = len(listing.splitlines())
        # (s5) windows=last, cold
        if not args.skip_windows_last:
            sec, mib, _ = project.backfill(variables(data, runs / "last", tiers, weeks[0], weeks[-1], "last"),
                                           expected_stages(len(tiers), n_weeks, "last"))
            s.add("cold_last", sec)
            s.add("cold_last_cpu", project.last_cpu)
            s.add("cold_last_rss_mib", mib)
        log(f"repeat {r + 1}/{args.repeats}: 6-week ref {s['ref6'][-1]:.2f}s, cold {s['cold'][-1]:.1f}s "
            f"({s['cold_rss_mib'][-1]:.0f} MiB), re-run {s['rerun'][-1]:.2f}s, list --status "
            f"{s['list_status'][-1]:.2f}s" + (f", windows=last {s['cold_last'][-1]:.1f}s"
                                               if "cold_last" in s else ""))
        if args.profile and r == 0:
            profiled_weeks = weeks[-(args.linear_weeks or REFERENCE_WEEKS):]
            info["profiles"] = profile_runs(project, big, build, tiers[0], profiled_weeks, work / "profiles")
    if not args.keep:
        shutil.rmtree(runs, ignore_errors=True)
    info["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report(args, s, info, total_rows)


def profile_runs(project: Project, big: list[str], build: Path, tier: str, weeks: list[dt.date],
                 folder: Path) -> dict[str, str]:
    """cProfile of the re-run and of `doit list --all --status` (each as its own command, after
    an unprofiled warm-up), and of the window stages (rolling, then snapshot, of `weeks`)
    called in this process on (s1)'s build, as doit's runner calls them."""
    import io
    import pstats

    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, args in (("rerun", ["backfill", *big]), ("list_status", ["list", "--all", "--status", *big])):
        out = folder / f"{name}.prof"
        project.doit(*args)  # warm
        subprocess.run([PYTHON, "-m", "cProfile", "-o", str(out), "-m", "doit", *args], cwd=project.home,
                       check=True, capture_output=True)
        text = io.StringIO()
        stats = pstats.Stats(str(out), stream=text).sort_stats("cumulative")
        stats.print_stats(r"otc/|dodo|doit/(runner|dependency|cmd_list|cmd_run)\.py", 30)
        found[name] = text.getvalue()
    found["window_stages"] = profile_window_stages(build, tier, weeks)
    return found


def profile_window_stages(build: Path, tier: str, weeks: list[dt.date]) -> str:
    """Where the time of rolling and snapshot goes: both stages of `weeks` run again in this
    process under cProfile, each kind timed apart."""
    import cProfile
    import io
    import pstats

    sys.path.insert(0, str(PROJECT))
    from otc.layout import Layout, Stage
    from otc.lineage import Batch, new_execution_id, utc_now
    from otc.runner import StageJob, run_stage
    from otc.stage import Options
    from otc.stages import SPECS
    from otc.tiers import Tier

    batch = Batch("bench_scale_profile", new_execution_id(), utc_now())
    lines = []
    for stage in (Stage.ROLLING, Stage.SNAPSHOT):
        jobs = [StageJob(Tier(tier), week, Layout(build), Options()) for week in weeks]
        run_stage(SPECS[stage], jobs[0], batch)  # warm: imports
        profiler = cProfile.Profile()
        clock = time.perf_counter()
        profiler.enable()
        for job in jobs:
            run_stage(SPECS[stage], job, batch)
        profiler.disable()
        seconds = time.perf_counter() - clock
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(r"otc/|pyarrow/", 18)
        lines.append(f"{stage.value}: {len(jobs)} weeks of {tier} in {seconds:.2f} s under cProfile\n"
                     + text.getvalue())
    return "\n".join(lines)


def report(args: argparse.Namespace, s: Samples, info: dict[str, Any], total_rows: int) -> dict[str, Any]:
    n_weeks, rows, n_tiers = args.weeks, args.rows_per_week, len(args.tiers)
    cold = s.median("cold")
    rate = total_rows / cold
    measures: list[dict[str, Any]] = []

    def cpu(key: str) -> float | None:
        return s.median(f"{key}_cpu") if f"{key}_cpu" in s else None

    def measure(key, label, value, unit, target=None, met=None, samples=None, cpu_value=None):
        measures.append({"key": key, "measure": label, "value": round(value, 3), "unit": unit, "target": target,
                         "met": met, "samples": [round(x, 3) for x in samples] if samples else None,
                         "cpu": None if cpu_value is None else round(cpu_value, 3)})

    def seconds(key, label, target=None, limit=None):
        value = s.median(key)
        measure(key, label, value, "s", target, None if limit is None else value < limit, s[key], cpu(key))

    def against(key, label, ref_key, ref_rows):
        """(s1)'s rows/s over a reference run's, by wall time (the target) and by CPU time."""
        ratio = rate / (ref_rows / s.median(ref_key))
        by_cpu = (total_rows / cpu("cold")) / (ref_rows / cpu(ref_key))
        measure(key, f"{label} ({ref_rows / s.median(ref_key):,.0f} rows/s)", ratio, "x", ">= 0.9", ratio >= 0.9,
                cpu_value=by_cpu)

    size = f"{n_weeks} weeks x {n_tiers} tiers = {n_weeks * n_tiers} tier-weeks x {rows:,} rows"
    seconds("cold", f"(s1) cold `doit backfill tier=all windows=all skip_report=true`, {size}")
    measure("cold_rows_per_second", "(s1) its throughput", rate, "rows/s", cpu_value=total_rows / cpu("cold"))
    seconds("ref6", f"(s1) reference: 6 weeks x {rows:,} rows, 1 tier, same options")
    against("throughput_vs_ref6", "(s1) throughput / the 6-week run's", "ref6", REFERENCE_WEEKS * rows)
    if "ref_linear" in s:
        seconds("ref_linear", f"(s1) reference: {args.linear_weeks} weeks x {rows:,} rows, 1 tier, same options")
        against("throughput_vs_ref_linear", "(s1) throughput / that run's", "ref_linear", args.linear_weeks * rows)
    if "ref6_130k" in s:
        seconds("ref6_130k", f"(s1) reference: 6 weeks x {REFERENCE_BIG_ROWS:,} rows (bench/run.py's size), "
                "same options")
        against("throughput_vs_ref6_130k", "(s1) throughput / that run's", "ref6_130k",
                REFERENCE_WEEKS * REFERENCE_BIG_ROWS)
    seconds("rerun", f"(s2) identical re-run, {n_weeks * n_tiers} tier-weeks (nothing to do)", "< 3 s", 3)
    seconds("list_status", "(s3) `doit list --all --status`, same variables, on the built directory", "< 3 s", 3)
    rss = max(s["cold_rss_mib"])
    measure("rss", "(s4) peak RSS of (s1), the largest over the repeats", rss, "MiB", "< 1024 MiB", rss < GIB,
            s["cold_rss_mib"])
    if "cold_last" in s:
        seconds("cold_last", "(s5) (s1) with windows=last")
        last = s.median("cold_last")
        measure("windows_all_adds", "(s5) windows=all / windows=last, cold", cold / last, "x", "<= 1.25",
                cold / last <= 1.25, cpu_value=cpu("cold") / cpu("cold_last"))
    stage = {k[len("cold_stage_"):]: round(statistics.median(v), 2) for k, v in s.items()
             if k.startswith("cold_stage_")}
    return {
        "command": shlex.join([Path(PYTHON).name, *sys.argv]),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "parameters": {k: (v.isoformat() if isinstance(v, dt.date) else str(v) if isinstance(v, Path) else v)
                       for k, v in vars(args).items()},
        "measures": measures,
        "cold_stage_seconds": stage,
        "cold_outside_stages_seconds": round(cold - sum(stage.values()), 2),
        **info,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| measure | value | by CPU time | target | met | samples |", "|---|---:|---:|---|---|---|"]

    def number(value: float, unit: str) -> str:
        return f"{value:,.0f} {unit}" if unit in ("rows/s", "MiB") else f"{value:.3f} {unit}"

    for m in result["measures"]:
        by_cpu = "" if m["cpu"] is None else number(m["cpu"], m["unit"])
        met = "" if m["met"] is None else ("yes" if m["met"] else "no")
        samples = ", ".join(f"{x:g}" for x in m["samples"]) if m["samples"] else ""
        lines.append(f"| {m['measure']} | {number(m['value'], m['unit'])} | {by_cpu} | {m['target'] or ''} | {met} "
                     f"| {samples} |")
    mach = result["machine"]
    lines += [
        "",
        f"Inside the stages (median, s): {result['cold_stage_seconds']}; outside them: "
        f"{result['cold_outside_stages_seconds']} s (interpreter, planning, doit's checks and state)",
        f"Machine: nproc {mach['nproc']} ({mach['cpus_usable']} usable), {mach['cpu_model']}, "
        f"{mach['memory_gib']} GiB, Python {mach['python']}, {mach['versions']}; load average "
        f"{mach['load_average_at_start']} at start, {mach['load_average_at_end']} at end; project {mach['project']}",
        f"Bytecode: {result['bytecode']}",
        f"Command: {result['command']}",
    ]
    for name, text in result.get("profiles", {}).items():
        lines += ["", f"cProfile of {name} (cumulative):", "```", text.strip(), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=5, help="52 weeks each")
    parser.add_argument("--weeks", type=int, help="weeks per tier instead of 52 x --years (at least 6)")
    parser.add_argument("--rows-per-week", type=int, default=20_000)
    parser.add_argument("--tiers", nargs="+", default=list(ALL_TIERS), help="space- or comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "otc-bench-scale",
                        help="where the generated data is cached (kept) and the runs go")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-week", type=dt.date.fromisoformat, default=dt.date(2025, 12, 26))
    parser.add_argument("--linear-weeks", type=int, default=52,
                        help="weeks of the one-tier reference run (0: none)")
    parser.add_argument("--skip-windows-last", action="store_true", help="leave out (s5)")
    parser.add_argument("--skip-reference-130k", action="store_true",
                        help="leave out the 6 weeks x 130,000 rows reference")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the re-run, the listing and the window stages once")
    parser.add_argument("--keep", action="store_true", help="keep the last repeat's build directories")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.tiers = generate.parse_tiers(args.tiers)
    args.weeks = args.weeks or 52 * args.years
    args.linear_weeks = min(args.linear_weeks, args.weeks)
    if args.weeks < REFERENCE_WEEKS or args.repeats < 1:
        parser.error(f"at least {REFERENCE_WEEKS} weeks and 1 repeat")

    return run_in_work_dir("scale", args, benchmark, markdown)


if __name__ == "__main__":
    sys.exit(main())
