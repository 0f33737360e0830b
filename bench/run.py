"""Benchmark `doit backfill` side by side with a floor and a DuckDB peer, in one run.

    python bench/run.py [--rows-per-week 130000] [--weeks 6] [--repeats 3] [--work-dir DIR]
                        [--skip-memory] [--skip-parallel] [--parallel-weeks N] [--skip-tier-weeks]
                        [--big-week-rows 2000000] [--tier-weeks-rows 2000]
                        [--format fixture|finra] [--bad-rate 0.0] [--seed 42] [--out results.json]

Generates the week files once (bench/generate.py), then measures, on the same files:

  (a) floor  - bench/floor.py: every file read with pyarrow.csv and written once as Parquet
  (b) peer   - bench/peer.py: the same rules as one DuckDB SQL script, on all cores
  (c) cold   - `doit backfill` of N weeks into an empty build directory
  (c2) cold with `doit -n 2 -P process`, for reference (the peer uses both cores too)
  (d) re-run - the identical command again (nothing to do)
  (e) new week - N weeks built, then week N+1 arrives: `doit backfill weeks_back=N as_of=<it>`
  (f) peak RSS of `doit backfill` of one week of --big-week-rows rows (/usr/bin/time -v)
  (g) 12 weeks cold: `doit -n 2 -P process backfill` against serial; for reference, its
      ceiling (from the run's CPU seconds and its first stage's start) and serial kept to
      one core with OMP_NUM_THREADS=1
  (h) no-op re-run of 156 tier-weeks: 52 weeks x 3 tiers, three backfills timed together

Everything runs as a subprocess, as a user would run it (so every figure includes the
interpreter's start and imports), from a temporary directory holding a copy of the
project's dodo.py with `source_dir=` and `build_dir=` variables. Each timed figure is the
median of --repeats runs, interleaved (a, b, c, d, a, b, c, d, ...) so that a noisy
neighbour hits every contender alike. Prints a Markdown table; --out also writes JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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
TIER = "NMS_TIER_1"
ALL_TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
PARALLEL_WEEKS = 12
TIER_WEEKS = 52
GIB = 1024  # MiB

sys.path.insert(0, str(BENCH))
import generate  # noqa: E402  (bench/generate.py)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- running things


def run_timed(cmd: list[str], cwd: Path | None = None, check: bool = True) -> tuple[float, str]:
    """Seconds (wall clock) the command took, and its output."""
    clock = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - clock
    if check and done.returncode != 0:
        raise BenchError(
            f"command failed ({done.returncode}): {shlex.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return seconds, done.stdout + done.stderr


def children_cpu_seconds() -> float:
    """CPU seconds (user and system) of the subprocesses this runner has waited for, with the
    processes they waited for in turn (doit's workers)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def first_stage_start(build_dir: Path) -> float:
    """When the first stage of a backfill started (epoch seconds), from its stage records."""
    starts = [dt.datetime.fromisoformat(json.loads(path.read_text())["execution"]["started_at"]).timestamp()
              for path in build_dir.glob("_records/*/*.json")]
    if not starts:
        raise BenchError(f"no stage record under {build_dir}")
    return min(starts)


def fastest_schedule(cpu: float, start: float, cores: int) -> float:
    """About the shortest wall time a parallel run that used `cpu` CPU seconds, and began its
    first stage `start` seconds after launch, could take on `cores` cores: until that start
    one process works (interpreter, imports, doit), taken as busy on one core throughout, and
    after it the rest of the CPU spreads evenly over the cores, with no wait between tasks
    and no stage left to run alone."""
    return start + max(0.0, cpu - start) / max(1, cores)


def metrics(output: str) -> dict[str, str]:
    """The `name: value` lines of the backfill's summary block."""
    found = {}
    for line in output.splitlines():
        m = re.match(r"^\s*([a-z_]+):\s*(.*)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    m = re.search(r"^Status:\s*(\S+)", output, re.M)
    if m:
        found["status"] = m.group(1)
    return found


def stage_seconds(output: str) -> dict[str, float]:
    """Seconds per stage kind, from the reporter's `ingest NMS_TIER_1 <week>: N rows in Xs` lines."""
    totals: dict[str, float] = {}
    for m in re.finditer(r"^(ingest|normalize|aggregate|rolling|snapshot)\s+\S+\s+\S+:.*?in ([0-9.]+)s", output, re.M):
        totals[m.group(1)] = totals.get(m.group(1), 0.0) + float(m.group(2))
    return totals


class Doit:
    """`doit` run from a directory holding a copy of the project's dodo.py."""

    def __init__(self, home: Path):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / "dodo.py", home / "dodo.py")

    def backfill(self, source_dir: Path, build_dir: Path, *variables: str, options: tuple[str, ...] = (),
                 expect_run: int | None = None, wrapper: tuple[str, ...] = ()) -> tuple[float, str]:
        cmd = [*wrapper, PYTHON, "-m", "doit", *options, "backfill", "skip_report=true", f"tier={self.tier_of(variables)}",
               *[v for v in variables if not v.startswith("tier=")],
               f"source_dir={source_dir}", f"build_dir={build_dir}"]
        seconds, output = run_timed(cmd, cwd=self.home)
        found = metrics(output)
        if found.get("status") != "COMPLETED":
            raise BenchError(f"backfill did not complete: {shlex.join(cmd)}\n{output[-3000:]}")
        if expect_run is not None and found.get("stages_run") not in (None, str(expect_run)):
            raise BenchError(f"expected {expect_run} stages to run, got {found.get('stages_run')}: "
                             f"{shlex.join(cmd)}\n{output[-3000:]}")
        return seconds, output

    @staticmethod
    def tier_of(variables: tuple[str, ...]) -> str:
        for v in variables:
            if v.startswith("tier="):
                return v.split("=", 1)[1]
        return TIER


def week_range(weeks: list[dt.date]) -> tuple[str, str]:
    return f"start_week={weeks[0].isoformat()}", f"end_week={weeks[-1].isoformat()}"


def link_files(files: list[Path], folder: Path) -> Path:
    """A folder holding (hard links to) exactly these files."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for f in files:
        try:
            os.link(f, folder / f.name)
        except OSError:
            shutil.copy2(f, folder / f.name)
    return folder


def peak_rss_mib(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """(peak RSS in MiB, seconds, output) of a command: /usr/bin/time -v when present, else
    getrusage(RUSAGE_CHILDREN) in a fresh Python process that runs only that command."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time:
        seconds, output = run_timed([gnu_time, "-v", *cmd], cwd=cwd)
        m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", output)
        if m:
            return int(m.group(1)) / 1024, seconds, output
    probe = (
        "import resource, subprocess, sys, json\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(done.stdout + done.stderr)\n"
        "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(done.returncode)\n"
    )
    seconds, output = run_timed([PYTHON, "-c", probe, *cmd], cwd=cwd)
    m = re.search(r"MAXRSS_KB (\d+)", output)
    if not m:
        raise BenchError(f"could not measure RSS of {shlex.join(cmd)}")
    return int(m.group(1)) / 1024, seconds, output


# --------------------------------------------------------------------------- the benchmark


class Results:
    def __init__(self):
        self.samples: dict[str, list[float]] = {}
        self.values: dict[str, Any] = {}

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


class CpuMeter:
    """CPU seconds the whole machine spent busy (from /proc/stat) against what this runner and
    its subprocesses used (getrusage): the difference is what other processes took meanwhile."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float] | None:
        try:
            import resource

            fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
            tick = os.sysconf("SC_CLK_TCK")
            busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait
            steal = (fields[7] if len(fields) > 7 else 0) / tick
            own = sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                      for f in ("ru_utime", "ru_stime"))
            return time.monotonic(), busy, steal, own
        except (OSError, ValueError, IndexError, ImportError):
            return None

    def report(self) -> dict[str, float] | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        wall, busy, steal, own = (e - s for e, s in zip(end, self.start))
        others = max(0.0, busy - own - steal)
        capacity = wall * (os.cpu_count() or 1)
        return {"wall_seconds": round(wall, 1), "own_cpu_seconds": round(own, 1),
                "other_processes_cpu_seconds": round(others, 1), "steal_seconds": round(steal, 1),
                "other_share_of_capacity": round(others / capacity, 3) if capacity else 0.0}


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        m = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
        mem = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    versions = {}
    for name in ("pyarrow", "duckdb", "doit", "numpy"):
        try:
            module = __import__(name)
            version = getattr(module, "__version__", None) or getattr(module, "VERSION", None)
            versions[name] = ".".join(map(str, version)) if isinstance(version, tuple) else version
        except Exception:  # pragma: no cover
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "memory_gib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "project": project_revision(),
    }


def project_revision() -> str | None:
    """The project's git commit, and whether otc/ or dodo.py had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "otc", "dodo.py"], cwd=PROJECT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + (" + uncommitted changes in otc/" if dirty else "")) if head else None


def cache_bytecode(folder: Path) -> str:
    """Let the timed commands cache compiled bytecode, as Python does on a user's machine from
    the second run on. Where PYTHONDONTWRITEBYTECODE is set (this sandbox, some CI images)
    every command would compile otc's modules again, about 25 ms each time; the commands
    inherit this process's environment, so it is unset here and the cache goes to `folder`,
    filled once, untimed, by importing what the contenders import."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is None:
        return "cached as the environment allows"
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    subprocess.run([PYTHON, "-c", "import doit.doit_cmd, duckdb, otc.plan, otc.reporting, otc.runner, otc.stages, "
                                  "otc.tasks, pyarrow.csv, pyarrow.parquet"],
                   cwd=PROJECT, check=True, capture_output=True)
    return f"PYTHONDONTWRITEBYTECODE was set: unset for the timed commands, cache in {folder}"


def benchmark(args: argparse.Namespace, work: Path, log) -> dict[str, Any]:
    n = args.weeks
    rows = args.rows_per_week
    res = Results()
    home = Doit(work / "project")
    info: dict[str, Any] = {"machine": machine(), "bytecode": cache_bytecode(work / "pycache")}
    meter = CpuMeter()

    # ---- data: N+1 weeks (or 12 for the parallel run), generated once
    total_weeks = max(n + 1, 0 if args.skip_parallel else args.parallel_weeks)
    clock = time.perf_counter()
    files = generate.generate(work / "data", rows, total_weeks, [TIER], args.format, args.bad_rate,
                              args.seed, args.end_week)
    info["generate_seconds"] = round(time.perf_counter() - clock, 3)
    info["data_bytes_per_week"] = int(statistics.median(f.stat().st_size for f in files))
    weeks = [generate_week(f) for f in files]
    cold_files, new_file = files[:n], files[n]
    cold_weeks = weeks[:n]
    source = link_files(cold_files, work / "src_cold")
    log(f"generated {len(files)} weeks x {rows} rows in {info['generate_seconds']}s under {work / 'data'}")

    week_stages = 3 * n + 2
    extra = ("reject_zero_volume=true",) if args.reject_zero_volume else ()
    for r in range(args.repeats):
        out = work / f"run{r}"
        # (a) floor
        s, _ = run_timed([PYTHON, str(BENCH / "floor.py"), str(out / "floor"), *map(str, cold_files)])
        res.add("floor", s)
        # (b) peer
        s, _ = run_timed([PYTHON, str(BENCH / "peer.py"), str(out / "peer"), *map(str, cold_files),
                          "--tier", TIER, *(["--reject-zero-volume"] if args.reject_zero_volume else [])])
        res.add("peer", s)
        # (c) cold backfill, (d) identical re-run
        build = out / "build"
        s, output = home.backfill(source, build, *week_range(cold_weeks), *extra, expect_run=week_stages)
        res.add("cold", s)
        for stage, sec in stage_seconds(output).items():
            res.add(f"cold_stage_{stage}", sec)
        s, _ = home.backfill(source, build, *week_range(cold_weeks), *extra, expect_run=0)
        res.add("rerun", s)
        if not args.skip_parallel:  # for reference: the peer uses both cores, so may we
            s, _ = home.backfill(source, out / "build_n2", *week_range(cold_weeks), *extra,
                                 options=("-n", "2", "-P", "process"), expect_run=week_stages)
            res.add("cold_n2", s)
        if r == 0 and args.check_peer:
            sys.path.insert(0, str(BENCH))
            import peer

            problems = peer.compare(build, out / "peer")
            info["peer_equals_ours"] = not problems
            info["peer_differences"] = problems[:10]
            log("peer output equals ours" if not problems else f"peer differs: {problems[:3]}")
        log(f"repeat {r + 1}/{args.repeats}: floor {res.samples['floor'][-1]:.3f}s, "
            f"peer {res.samples['peer'][-1]:.3f}s, cold {res.samples['cold'][-1]:.3f}s, "
            f"re-run {res.samples['rerun'][-1]:.3f}s")
        shutil.rmtree(out, ignore_errors=True)

    # ---- (e) one new week; and the direct cold time of a single week, for reference
    for r in range(args.repeats):
        folder = link_files(cold_files, work / f"src_new{r}")
        build = work / f"new{r}" / "build"
        home.backfill(folder, build, *week_range(cold_weeks), *extra, expect_run=week_stages)
        link_files([*cold_files, new_file], folder)  # the new week's file arrives
        s, _ = home.backfill(folder, build, f"weeks_back={n}", f"as_of={weeks[n].isoformat()}", *extra,
                                expect_run=5)
        res.add("new_week", s)
        one = work / f"one{r}" / "build"
        s, _ = home.backfill(folder, one, *week_range([weeks[n]]), *extra, expect_run=5)
        res.add("one_week_cold", s)
        shutil.rmtree(work / f"new{r}", ignore_errors=True)
        shutil.rmtree(work / f"one{r}", ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    log(f"new week: {res.median('new_week'):.3f}s; one week cold: {res.median('one_week_cold'):.3f}s")

    # ---- (f) peak RSS with one big week
    if not args.skip_memory:
        big_files = generate.generate(work / "big", args.big_week_rows, 1, [TIER], args.format, args.bad_rate,
                                      args.seed, args.end_week)
        week = generate_week(big_files[0])
        build = work / "bigbuild"
        cmd = [PYTHON, "-m", "doit", "backfill", "skip_report=true", f"tier={TIER}", *week_range([week]),
               f"source_dir={big_files[0].parent}", f"build_dir={build}"]
        mib, s, output = peak_rss_mib(cmd, home.home)
        if metrics(output).get("status") != "COMPLETED":
            raise BenchError(f"big-week backfill failed:\n{output[-3000:]}")
        res.values["rss_backfill_mib"] = mib
        res.values["big_week_cold_seconds"] = s
        info["big_week_stage_seconds"] = stage_seconds(output)
        for name, cmd in (
            ("floor", [PYTHON, str(BENCH / "floor.py"), str(work / "bigfloor"), str(big_files[0])]),
            ("peer", [PYTHON, str(BENCH / "peer.py"), str(work / "bigpeer"), str(big_files[0]), "--tier", TIER]),
        ):
            mib, s, _ = peak_rss_mib(cmd, home.home)
            res.values[f"rss_{name}_mib"] = mib
            res.values[f"big_week_{name}_seconds"] = s
        for folder in ("bigbuild", "bigfloor", "bigpeer", "big"):
            shutil.rmtree(work / folder, ignore_errors=True)
        log(f"peak RSS: backfill {res.values['rss_backfill_mib']:.0f} MiB "
            f"({res.values['big_week_cold_seconds']:.2f}s), floor {res.values['rss_floor_mib']:.0f} MiB, "
            f"peer {res.values['rss_peer_mib']:.0f} MiB")

    # ---- (g) 12 weeks: doit -n 2 -P process vs serial
    if not args.skip_parallel:
        par_files = files[:args.parallel_weeks]
        par_weeks = weeks[:args.parallel_weeks]
        folder = link_files(par_files, work / "src_par")
        stages = 3 * args.parallel_weeks + 2
        for r in range(args.repeats):
            s, _ = home.backfill(folder, work / f"ser{r}", *week_range(par_weeks), *extra, expect_run=stages)
            res.add("serial_12", s)
            launched, cpu_before = time.time(), children_cpu_seconds()
            s, _ = home.backfill(folder, work / f"par{r}", *week_range(par_weeks), *extra,
                                 options=("-n", "2", "-P", "process"), expect_run=stages)
            res.add("parallel_12", s)
            cpu = children_cpu_seconds() - cpu_before
            start = first_stage_start(work / f"par{r}") - launched
            res.add("parallel_12_cpu", cpu)
            res.add("parallel_12_start", start)
            res.add("parallel_12_fastest", fastest_schedule(cpu, start, min(2, info["machine"]["cpus_usable"])))
            # for reference: serial with Arrow kept to one thread, so on one core
            s, _ = home.backfill(folder, work / f"one{r}", *week_range(par_weeks), *extra, expect_run=stages,
                                 wrapper=("env", "OMP_NUM_THREADS=1"))
            res.add("serial_12_one_core", s)
            for name in ("ser", "par", "one"):
                shutil.rmtree(work / f"{name}{r}", ignore_errors=True)
        log(f"{args.parallel_weeks} weeks: serial {res.median('serial_12'):.3f}s, -n 2 {res.median('parallel_12'):.3f}s, "
            f"serial on one core {res.median('serial_12_one_core'):.3f}s")

    # ---- (h) no-op re-run of 156 tier-weeks
    if not args.skip_tier_weeks:
        tw_files = generate.generate(work / "tiers", args.tier_weeks_rows, TIER_WEEKS, list(ALL_TIERS),
                                     args.format, 0.0, args.seed, args.end_week)
        tw_weeks = sorted({generate_week(f) for f in tw_files})
        build = work / "tierbuild"
        for tier in ALL_TIERS:
            home.backfill(work / "tiers" / tier.lower(), build, f"tier={tier}", *week_range(tw_weeks),
                          expect_run=3 * TIER_WEEKS + 2)
        for r in range(args.repeats):
            total = 0.0
            for tier in ALL_TIERS:
                s, _ = home.backfill(work / "tiers" / tier.lower(), build, f"tier={tier}", *week_range(tw_weeks),
                                     expect_run=0)
                total += s
            res.add("rerun_156", total)
        shutil.rmtree(build, ignore_errors=True)
        log(f"re-run of {3 * TIER_WEEKS} tier-weeks: {res.median('rerun_156'):.3f}s")

    info["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["machine"]["cpu_during_run"] = meter.report()
    return report(args, res, info)


def generate_week(path: Path) -> dt.date:
    return dt.date.fromisoformat(re.search(r"(\d{4}-\d{2}-\d{2})", path.name).group(1))


# --------------------------------------------------------------------------- the report


def report(args: argparse.Namespace, res: Results, info: dict[str, Any]) -> dict[str, Any]:
    n, rows = args.weeks, args.rows_per_week
    total_rows = n * rows
    floor, peer, cold = res.median("floor"), res.median("peer"), res.median("cold")
    rerun, new_week = res.median("rerun"), res.median("new_week")
    one_week = cold / n
    measures: list[dict[str, Any]] = []

    def measure(key, label, value, unit, ratio=None, ratio_label=None, target=None, met=None, samples=None):
        measures.append({
            "key": key, "measure": label, "value": round(value, 4), "unit": unit,
            "ratio": None if ratio is None else round(ratio, 3), "ratio_label": ratio_label,
            "target": target, "met": met, "samples": [round(s, 4) for s in samples] if samples else None,
        })

    size = f"{n} weeks x {rows:,} rows"
    measure("floor", f"(a) floor: pyarrow.csv -> Parquet, {size}", floor, "s", samples=res.samples["floor"])
    measure("peer", f"(b) peer: DuckDB SQL script, {size}", peer, "s", samples=res.samples["peer"])
    measure("cold_vs_floor", f"(c) cold `doit backfill`, {size}", cold, "s", cold / floor, "(c)/(a)",
            "<= 3", cold / floor <= 3, res.samples["cold"])
    measure("cold_vs_peer", "(c) cold `doit backfill`, against the peer", cold, "s", cold / peer, "(c)/(b)",
            "<= 0.8", cold / peer <= 0.8)
    if "cold_n2" in res.samples:
        c2 = res.median("cold_n2")
        measure("cold_n2_vs_peer", "(c2) for reference: (c) with `doit -n 2 -P process` (both cores, as the peer)",
                c2, "s", c2 / peer, "(c2)/(b)", samples=res.samples["cold_n2"])
    measure("rerun", f"(d) identical re-run, {n} weeks (nothing to do)", rerun, "s", rerun / cold, "(d)/(c)",
            "<= 0.5 s", rerun <= 0.5, res.samples["rerun"])
    one_cold = res.median("one_week_cold")
    measure("new_week", "(e) one new week (3 stages + rolling + snapshot), against (e')",
            new_week, "s", new_week / one_cold, "(e)/(e')", "<= 1.5", new_week / one_cold <= 1.5,
            res.samples["new_week"])
    measure("one_week_cold", "(e') cold backfill of that one week alone, with its rolling and snapshot",
            one_cold, "s", samples=res.samples["one_week_cold"])
    measure("new_week_vs_cold_per_week",
            f"(e) against cold/N = {one_week:.3f} s (the fixed costs spread over N)",
            new_week, "s", new_week / one_week, "(e)/((c)/N)", "<= 1.5", new_week / one_week <= 1.5)
    if "rss_backfill_mib" in res.values:
        mib = res.values["rss_backfill_mib"]
        big = args.big_week_rows
        measure("rss", f"(f) peak RSS, backfill of 1 week x {big:,} rows "
                f"({res.values['big_week_cold_seconds']:.2f} s, {big / res.values['big_week_cold_seconds']:,.0f} rows/s)",
                mib, "MiB", mib / GIB, "/ 1 GiB", "<= 1024 MiB", mib <= GIB)
        measure("rss_floor", f"(f) for reference: peak RSS of the floor on that week "
                f"({res.values['big_week_floor_seconds']:.2f} s)", res.values["rss_floor_mib"], "MiB")
        measure("rss_peer", f"(f) for reference: peak RSS of the peer on that week "
                f"({res.values['big_week_peer_seconds']:.2f} s)", res.values["rss_peer_mib"], "MiB")
    if "serial_12" in res.samples:
        ser, par = res.median("serial_12"), res.median("parallel_12")
        measure("serial_12", f"(g) cold backfill, {args.parallel_weeks} weeks x {rows:,} rows, serial", ser, "s",
                samples=res.samples["serial_12"])
        measure("parallel_12", "(g) the same with `doit -n 2 -P process`", par, "s", ser / par,
                "serial / parallel", ">= 1.6", ser / par >= 1.6, res.samples["parallel_12"])
        cpu, start = res.median("parallel_12_cpu"), res.median("parallel_12_start")
        fastest = res.median("parallel_12_fastest")
        measure("parallel_12_ceiling", f"(g) its ceiling: the `-n 2` run on one core until its first stage "
                f"({start:.3f} s after launch), then the rest of its CPU ({cpu:.2f} s in all) spread evenly over "
                f"{min(2, info['machine']['cpus_usable'])} cores", fastest, "s", ser / fastest, "serial / that",
                samples=res.samples["parallel_12_fastest"])
        one = res.median("serial_12_one_core")
        measure("serial_12_one_core", "(g) for reference: serial kept to one core (`OMP_NUM_THREADS=1`: one "
                "Arrow thread, one writer)", one, "s", one / par, "one-core serial / parallel",
                samples=res.samples["serial_12_one_core"])
    if "rerun_156" in res.samples:
        t = res.median("rerun_156")
        measure("rerun_156", f"(h) identical re-run, {TIER_WEEKS} weeks x 3 tiers = {3 * TIER_WEEKS} tier-weeks "
                f"({args.tier_weeks_rows:,} rows each)", t, "s", target="<= 2 s", met=t <= 2,
                samples=res.samples["rerun_156"])

    stage = {k[len("cold_stage_"):]: round(statistics.median(v), 4)
             for k, v in res.samples.items() if k.startswith("cold_stage_")}
    rates = {
        "floor_rows_per_second": total_rows / floor,
        "peer_rows_per_second": total_rows / peer,
        "cold_rows_per_second": total_rows / cold,
    }
    return {
        "command": info.pop("command", None),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "parameters": {k: (v.isoformat() if isinstance(v, dt.date) else str(v) if isinstance(v, Path) else v)
                       for k, v in vars(args).items()},
        "measures": measures,
        "rows_per_second": {k: round(v) for k, v in rates.items()},
        "cold_stage_seconds": stage,
        "cold_overhead_seconds": round(cold - sum(stage.values()), 4) if stage else None,
        "parallel_12_cpu_seconds": [round(x, 4) for x in res.samples.get("parallel_12_cpu", [])],
        "parallel_12_first_stage_seconds": [round(x, 4) for x in res.samples.get("parallel_12_start", [])],
        **info,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| measure | value | ratio | target | met |", "|---|---:|---:|---|---|"]
    for m in result["measures"]:
        value = f"{m['value']:.3f} s" if m["unit"] == "s" else f"{m['value']:.0f} MiB"
        ratio = f"{m['ratio_label']} = {m['ratio']:.2f}" if m["ratio"] is not None else ""
        met = "" if m["met"] is None else ("yes" if m["met"] else "no")
        lines.append(f"| {m['measure']} | {value} | {ratio} | {m['target'] or ''} | {met} |")
    rates = result["rows_per_second"]
    mach = result["machine"]
    lines += [
        "",
        "Rows per second (N weeks x rows, cold): "
        + ", ".join(f"{k.replace('_rows_per_second', '')} {v:,.0f}" for k, v in rates.items()),
    ]
    if result.get("cold_stage_seconds"):
        stage = result["cold_stage_seconds"]
        lines.append(
            "Cold backfill, time inside stages (median, summed over weeks): "
            + ", ".join(f"{k} {v:.3f} s" for k, v in stage.items())
            + f"; outside stages (interpreter start, imports, doit, source digests, manifest and batch files): "
            f"{result['cold_overhead_seconds']:.3f} s"
        )
    if "peer_equals_ours" in result:
        lines.append(f"Peer output equals ours on this data: {'yes' if result['peer_equals_ours'] else 'NO'}"
                     + ("" if result["peer_equals_ours"] else f" ({'; '.join(result['peer_differences'][:3])})"))
    lines += [
        f"Machine: nproc {mach['nproc']} (usable {mach['cpus_usable']}), {mach['cpu_model']}, "
        f"{mach['memory_gib']} GiB RAM, Python {mach['python']}, "
        + ", ".join(f"{k} {v}" for k, v in mach["versions"].items())
        + f"; load average {mach['load_average_at_start']} at start, {mach.get('load_average_at_end')} at end",
        f"Project: {mach.get('project') or 'unknown revision'}; date: {result['date']}; data generated in {result['generate_seconds']} s "
        f"({result['data_bytes_per_week'] / 2**20:.1f} MiB per week file); median of {result['parameters']['repeats']} runs",
        f"Command: `{result['command']}`",
        f"Bytecode: {result['bytecode']}",
    ]
    cpu = mach.get("cpu_during_run")
    if cpu:
        lines.append(
            f"CPU during the run: {cpu['wall_seconds']} s wall x {mach['nproc']} CPUs; this benchmark used "
            f"{cpu['own_cpu_seconds']} CPU s, other processes {cpu['other_processes_cpu_seconds']} CPU s "
            f"({100 * cpu['other_share_of_capacity']:.1f} % of capacity), hypervisor steal {cpu['steal_seconds']} s"
        )
        if cpu["other_share_of_capacity"] > 0.05 or cpu["steal_seconds"] > 0.05 * cpu["wall_seconds"]:
            lines.append("Warning: other processes (or the hypervisor) took a noticeable share of the CPUs during "
                         "the run: the figures, the parallel speed-up above all, are noisier than usual.")
    return "\n".join(lines)


def run_in_work_dir(tag: str, args: argparse.Namespace, benchmark, markdown) -> int:
    """Run `benchmark(args, work_dir, log)` in `args.work_dir` (kept), logging as `[tag]`, and
    publish its table: the end of bench/scale.py and bench/report_speed.py."""
    def log(message: str) -> None:
        print(f"[{tag}] {message}", file=sys.stderr, flush=True)

    args.work_dir.mkdir(parents=True, exist_ok=True)
    result = benchmark(args, args.work_dir.resolve(), log)
    publish(markdown(result), result, args.out)
    return 0


def publish(table: str, result: dict[str, Any], out: Path | None) -> None:
    """Print a benchmark's markdown table; write its whole result as JSON when asked (`--out`)."""
    print(table)
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-per-week", type=int, default=130_000)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where data and builds go (default: a temporary directory, removed at the end)")
    parser.add_argument("--skip-memory", action="store_true", help="skip (f), the peak RSS of a big week")
    parser.add_argument("--skip-parallel", action="store_true", help="skip (g), doit -n 2 against serial")
    parser.add_argument("--parallel-weeks", type=int, default=PARALLEL_WEEKS, help="weeks of (g)")
    parser.add_argument("--skip-tier-weeks", action="store_true", help="skip (h), the 156 tier-week re-run")
    parser.add_argument("--big-week-rows", type=int, default=2_000_000)
    parser.add_argument("--tier-weeks-rows", type=int, default=2_000)
    parser.add_argument("--format", choices=("fixture", "finra"), default="fixture")
    parser.add_argument("--bad-rate", type=float, default=0.0)
    parser.add_argument("--reject-zero-volume", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-week", type=dt.date.fromisoformat, default=dt.date(2025, 12, 26))
    parser.add_argument("--no-check-peer", dest="check_peer", action="store_false",
                        help="do not compare the peer's tables with ours")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.weeks < 1 or args.repeats < 1 or args.rows_per_week < 2:
        parser.error("--weeks and --repeats must be >= 1, --rows-per-week >= 2")

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    temporary = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="otc-bench-")) if temporary else args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = benchmark(args, work, log)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    result["command"] = shlex.join(["python", "bench/run.py", *argv])
    publish(markdown(result), result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
