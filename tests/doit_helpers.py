"""Running the real `doit` command on a copy of the project in a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT / "data" / "fixtures" / "otc"
FIXTURE_WEEKS = ["2025-11-21", "2025-11-28", "2025-12-05", "2025-12-12", "2025-12-19", "2025-12-26"]
RANGE = ["tier=NMS_TIER_1", "start_week=2025-11-21", "end_week=2025-12-26"]


def make_project(root: Path, weeks: list[str] = FIXTURE_WEEKS) -> Path:
    """A directory with our dodo.py and the fixture files of `weeks` in data/fixtures/otc."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "dodo.py", root / "dodo.py")
    sources = root / "data" / "fixtures" / "otc"
    sources.mkdir(parents=True)
    for week in weeks:
        shutil.copy(FIXTURES / f"week_{week}.psv", sources / f"week_{week}.psv")
    return root


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
        if len(parts) >= 3 and parts[0] in {"ingest", "normalize", "aggregate", "rolling", "snapshot"}:
            names.append(f"{parts[0]}:{parts[1]}:{parts[2].rstrip(':')}")
    return names
