"""Running the real `doit` command on a copy of the project in a temporary directory."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
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


def doit(root: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "doit", *args], cwd=root, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


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
