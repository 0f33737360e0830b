"""Where a parallel backfill spends the time between its stages: doit's hand-over.

    python bench/handover.py SOURCE_DIR START_WEEK END_WEEK [--tier NMS_TIER_1] [--workers 2]

Runs `doit -n WORKERS -P process backfill` in this process, through doit's own command,
into a temporary build directory, with doit's runner wrapped to note (on the monotonic
clock, which every process shares) when each task starts and ends in its worker, and how
long doit's main process spends on each result. The workers are forked, so they inherit
the wrapping. After doit's own output it prints: the time before the first stage (imports,
planning, forking the workers; the interpreter's own start comes before this script's
clock starts); per stage kind, the hand-over from a task's end to the next task's start
in the same worker, with doit's main process's part of it; and the time from the last
stage's end until doit's command returns. A hand-over may include waiting for a task to
become ready; those that lead to a task that waits for others by design (the rolling
window, the snapshot, the batch report) are left out.
"""

from __future__ import annotations

import time

LAUNCHED = time.monotonic()  # before the imports, which a user's command pays too

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

from doit import runner  # noqa: E402
from doit.doit_cmd import DoitMain  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
WAITING_STAGES = ("rolling", "snapshot", "backfill")


#: Tasks that are stages; the batch and backfill tasks only report.
STAGE_NAMES = {"fetch", "ingest", "normalize", "aggregate", "rolling", "snapshot", "report"}


def instrument(log_fd: int) -> None:
    """Wrap doit's runner so that workers and the main process append timings to `log_fd`."""
    execute, process = runner.Runner.execute_task, runner.MRunner._process_result

    def note(kind: str, start: float, end: float, name: str) -> None:
        os.write(log_fd, f"{kind} {os.getpid()} {start:.6f} {end:.6f} {name}\n".encode())

    def timed_execute(self, task):
        start = time.monotonic()
        try:
            return execute(self, task)
        finally:
            note("run", start, time.monotonic(), task.name)

    def timed_process(self, node, task, result):
        start = time.monotonic()
        try:
            return process(self, node, task, result)
        finally:
            note("main", start, time.monotonic(), task.name)

    runner.Runner.execute_task = timed_execute
    runner.MRunner._process_result = timed_process


def summarize(lines: list[str], launched: float, returned: float) -> str:
    runs: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    main: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        kind, pid, start, end, name = line.split(maxsplit=4)
        if kind == "run":
            runs[pid].append((float(start), float(end), name))
        else:
            main[name.split(":")[0]].append(float(end) - float(start))
    handover: dict[str, list[float]] = defaultdict(list)
    for tasks in runs.values():
        tasks.sort()
        for (_, end, name), (start, _, following) in zip(tasks, tasks[1:]):
            if not following.startswith(WAITING_STAGES):
                handover[name.split(":")[0]].append(start - end)
    stages = [t for tasks in runs.values() for t in tasks if t[2].split(":")[0] in STAGE_NAMES]
    if not stages:
        raise SystemExit("no stage timings were noted: did the workers not inherit the wrapping?")
    first = min(start for start, _, _ in stages)
    last = max(end for _, end, _ in stages)
    out = [f"workers: {len(runs)}; stages: {len(stages)}",
           f"before the first stage: {first - launched:.3f} s (imports, planning, forking the workers)",
           f"{'hand-over after':<18}{'count':>6}{'median ms':>11}{'max ms':>8}   doit's main process, median ms"]
    for kind, gaps in handover.items():
        out.append(f"  {kind:<16}{len(gaps):>6}{1000 * statistics.median(gaps):>11.1f}{1000 * max(gaps):>8.1f}"
                   f"   {1000 * statistics.median(main[kind]):.1f}")
    per_worker = sum(sum(g) for g in handover.values()) / max(1, len(runs))
    out += [f"hand-over per worker, summed: {per_worker:.3f} s",
            f"after the last stage until doit returns: {returned - last:.3f} s (batch report, doit's state)"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source_dir", type=Path)
    parser.add_argument("start_week")
    parser.add_argument("end_week")
    parser.add_argument("--tier", default="NMS_TIER_1")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if "fork" not in multiprocessing.get_all_start_methods():
        parser.error("needs the fork start method, which this platform lacks")
    multiprocessing.set_start_method("fork", force=True)  # the workers must inherit the wrapping
    work = Path(tempfile.mkdtemp(prefix="otc-handover-"))
    cwd = Path.cwd()
    try:
        shutil.copy(PROJECT / "dodo.py", work / "dodo.py")
        sys.path.insert(0, str(PROJECT))
        log_path = work / "timings.log"
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        instrument(log_fd)
        os.chdir(work)
        code = DoitMain().run(["-n", str(args.workers), "-P", "process", "backfill", f"tier={args.tier}",
                               f"start_week={args.start_week}", f"end_week={args.end_week}",
                               f"source_dir={args.source_dir.resolve()}", "build_dir=build", "skip_report=true"])
        returned = time.monotonic()
        os.close(log_fd)
        if code != 0:
            print(f"backfill failed (exit {code})", file=sys.stderr)
            return code
        print("\n" + summarize(log_path.read_text().splitlines(), LAUNCHED, returned))
        return 0
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
