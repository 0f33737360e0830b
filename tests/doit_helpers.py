"""Running the real `doit` command on a copy of the project in a temporary directory."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT / "data" / "fixtures" / "otc"
FIXTURE_WEEKS = ["2025-11-21", "2025-11-28", "2025-12-05", "2025-12-12", "2025-12-19", "2025-12-26"]
#: Where make_project puts the week files. Command lines name it: the default source_dir is
#: where fetched FINRA weeks go, and a test must never fetch.
SOURCE_DIR = "data/fixtures/otc"
SOURCE = f"source_dir={SOURCE_DIR}"
RANGE = ["tier=NMS_TIER_1", "start_week=2025-11-21", "end_week=2025-12-26", SOURCE, "skip_report=true"]
# (the report stage has its own tests: these count the pipeline's twenty stages)


@dataclasses.dataclass(frozen=True)
class FixtureRun:
    """A finished `doit backfill` of the fixture weeks (RANGE): the project directory and the output."""

    root: Path
    result: subprocess.CompletedProcess


def make_project(root: Path, weeks: list[str] = FIXTURE_WEEKS) -> Path:
    """A directory with our dodo.py and the fixture files of `weeks` in SOURCE_DIR."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "dodo.py", root / "dodo.py")
    sources = root / SOURCE_DIR
    sources.mkdir(parents=True)
    for week in weeks:
        shutil.copy(FIXTURES / f"week_{week}.psv", sources / f"week_{week}.psv")
    return root


def copy_project(source: Path, root: Path) -> Path:
    """A copy of a project directory, built outputs and doit's state included.

    Everything in a build refers to files by paths relative to the project, and the copy
    keeps every mtime, so doit finds the copy exactly as up to date as the original.
    """
    shutil.copytree(source, root, symlinks=True)
    return root


def file_states(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under `directory` (relative path) with its mtime (ns) and size."""
    return {str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(directory.rglob("*")) if p.is_file()}


#: Environment variables an interpreter reads only when it starts (Python's, Arrow's allocator,
#: the time zone): a forked run would not take them.
STARTUP_VARIABLES = ("PYTHON", "ARROW_", "TZ")


def doit(root: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None,
         fresh: bool = False) -> subprocess.CompletedProcess:
    """`python -m doit <args>` in `root`, as its own process: forked from a process that has
    the imports done already (tests/forked_doit.py) where the platform forks, unless `fresh`
    asks for a new interpreter."""
    command = [sys.executable, "-m", "doit", *args]
    environment = {**os.environ, **(env or {})}
    startup = [name for name in (env or {}) if name.startswith(STARTUP_VARIABLES)]
    if fresh or startup or not hasattr(os, "fork"):
        return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout, env=environment)
    return _FORKED.run(command, root, environment, timeout)


class _ForkedDoit:
    """The client of tests/forked_doit.py: one such process per test process, started on first use."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.pending = b""

    def run(self, command: list[str], root: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        if self.process is None or self.process.poll() is not None:
            self._start()
        assert self.process is not None and self.process.stdin is not None
        with tempfile.TemporaryDirectory(prefix="doit-output-") as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            request = {"cwd": str(root), "args": command[3:], "env": env, "stdout": str(out), "stderr": str(err)}
            try:
                self.process.stdin.write((json.dumps(request) + "\n").encode())
                self.process.stdin.flush()
                pid = self._reply(30)["pid"]
                try:
                    returncode = self._reply(timeout)["returncode"]
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
                        os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired(command, timeout) from None
            except BaseException:
                self._abandon()  # its replies may be out of step now: the next run starts another
                raise
            return subprocess.CompletedProcess(command, returncode, out.read_text(), err.read_text())

    def _abandon(self) -> None:
        if self.process is not None:
            self.process.kill()  # its running child, if any, was killed or has ended
            self.process.wait()
            self.process = None

    def _start(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("forked_doit.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pending = b""
        atexit.register(self._stop, self.process)

    @staticmethod
    def _stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.stdin.close()
            process.wait(timeout=30)

    def _reply(self, timeout: float) -> dict:
        assert self.process is not None and self.process.stdout is not None
        fd, deadline = self.process.stdout.fileno(), time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("tests/forked_doit.py ended")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return json.loads(line)


_FORKED = _ForkedDoit()


def table_contents(build: Path) -> dict[str, list[dict]]:
    """Every output table's rows, lineage ids and timestamps left out, in a stable order."""
    import pyarrow.dataset as ds

    lineage = {"execution_id", "batch_id", "ingested_at", "created_at", "normalized_at", "calculated_at"}
    contents = {}
    for directory in sorted(p for p in build.iterdir() if p.name.startswith("otc_")):
        table = ds.dataset(directory).to_table()
        keep = [c for c in table.column_names if c not in lineage]
        rows = table.select(keep).to_pylist()
        contents[directory.name] = sorted(rows, key=repr)
    return contents


def metrics(stdout: str) -> dict[str, str]:
    """The `Metrics:` block of the summary as name -> text (errors as a joined list)."""
    block = stdout[stdout.index("Pipeline: otc.backfill_range"):]
    found: dict[str, str] = {}
    errors: list[str] = []
    for line in block.splitlines():
        if line.startswith("Status: "):
            found["status"] = line.split(": ", 1)[1]
        elif line.startswith("    - "):
            errors.append(line[6:])
        elif line.startswith("  ") and ": " in line or line.rstrip().endswith(":") and line.startswith("  "):
            name, _, value = line.strip().partition(":")
            found[name] = value.strip()
    found["errors"] = "; ".join(errors) if errors else found.get("errors", "")
    return found


def stage_lines(stdout: str) -> list[str]:
    """`ingest:NMS_TIER_1:2025-11-21`-style names of the stages the run printed as executed."""
    names = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in {"fetch", "ingest", "normalize", "aggregate", "rolling", "snapshot", "report"}:
            names.append(f"{parts[0]}:{parts[1]}:{parts[2].rstrip(':')}")
    return names
