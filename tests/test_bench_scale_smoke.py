"""Smoke test of bench/scale.py and bench/report_speed.py at a tiny size, and of their helpers.

The full runs (5 years x 3 tiers; 130,000-row weeks) take many minutes and stay out of the
suite. The tests that run the scripts are marked `slow`; the ones that call their functions
directly are not.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
BENCH = PROJECT / "bench"


def load(name: str):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measures(result: dict) -> dict[str, dict]:
    return {m["key"]: m for m in result["measures"]}


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("tiers", "weeks", "windows", "expected"),
    [
        pytest.param(3, 260, "all", 3900, id="five-years-three-tiers-every-window"),
        pytest.param(3, 260, "last", 2346, id="five-years-three-tiers-last-window"),
        pytest.param(1, 6, "all", 30, id="six-weeks-every-window"),
        pytest.param(1, 6, "last", 20, id="six-weeks-last-window"),
    ],
)
def test_scale_expects_the_stages_a_cold_run_executes(tiers: int, weeks: int, windows: str, expected: int):
    assert load("scale").expected_stages(tiers, weeks, windows) == expected


def test_scale_reads_stage_seconds_from_lines_with_the_progress_counter():
    output = "\n".join([
        "ingest    NMS_TIER_1 2025-12-19: 12 rows in 0.020s [1/5]",
        "ingest    OTC 2025-12-19: 12 rows in 0.030s [2/5]",
        "rolling   OTC 2025-12-19: 5 rows in 0.100s - FAILED: No weekly summary [3/5]",
        "-- 3/5 stages, 12s elapsed, about 8s left",
        "  stages_run: 3",
    ])
    assert load("scale").stage_seconds(output) == pytest.approx({"ingest": 0.05, "rolling": 0.1})


def test_report_speed_reads_each_stage_record_of_the_week(tmp_path: Path):
    folder = tmp_path / "_records" / "NMS_TIER_1"
    folder.mkdir(parents=True)
    for stage, seconds in (("ingest", 0.5), ("report", 0.25)):
        (folder / f"2025-12-26.{stage}.json").write_text(json.dumps(
            {"stage": stage, "execution": {"metrics": {"seconds": seconds}}}))
    (folder / "2025-12-19.ingest.json").write_text(json.dumps(
        {"stage": "ingest", "execution": {"metrics": {"seconds": 9.0}}}))
    assert load("report_speed").record_seconds(tmp_path, dt.date(2025, 12, 26)) == {"ingest": 0.5, "report": 0.25}


# --------------------------------------------------------------------------- the scripts, tiny


@pytest.mark.slow
def test_scale_runs_end_to_end_at_a_tiny_size(tmp_path: Path):
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "scale.py"), "--weeks", "7", "--rows-per-week", "200",
         "--tiers", "NMS_TIER_1,OTC", "--repeats", "1", "--skip-reference-130k", "--linear-weeks", "7",
         "--work-dir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    found = measures(result)
    assert set(found) == {"cold", "cold_rows_per_second", "ref6", "throughput_vs_ref6", "ref_linear",
                          "throughput_vs_ref_linear", "rerun", "list_status", "rss", "cold_last", "windows_all_adds"}
    cold = found["cold"]["value"]
    assert found["cold_rows_per_second"]["value"] == pytest.approx(7 * 2 * 200 / cold, rel=1e-2)
    assert found["throughput_vs_ref6"]["value"] == pytest.approx(
        (7 * 2 * 200 / cold) / (6 * 200 / found["ref6"]["value"]), rel=1e-2)
    assert found["throughput_vs_ref_linear"]["value"] == pytest.approx(
        (7 * 2 * 200 / cold) / (7 * 200 / found["ref_linear"]["value"]), rel=1e-2)
    assert found["windows_all_adds"]["value"] == pytest.approx(cold / found["cold_last"]["value"], rel=1e-2)
    assert 20 < found["rss"]["value"] < 1024
    for m in found.values():
        if m["met"] is not None:
            assert isinstance(m["met"], bool)
    assert found["rerun"]["met"] == (found["rerun"]["value"] < 3)
    # the tables the runs built: every stage ran (the script checks the counts it printed)
    assert set(result["cold_stage_seconds"]) == {"ingest", "normalize", "aggregate", "rolling", "snapshot"}
    assert "| (s2) identical re-run, 14 tier-weeks" in done.stdout
    # the data stays for the next invocation; the runs do not
    assert sorted(p.name for p in (tmp_path / "work" / "data").iterdir()) == ["r200_w7_s42_e2025-12-26"]
    assert not (tmp_path / "work" / "runs").exists()


@pytest.mark.slow
def test_report_speed_runs_end_to_end_at_a_tiny_size(tmp_path: Path):
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "report_speed.py"), "--rows-per-week", "300", "--history-weeks", "7",
         "--parallel-weeks", "6", "--repeats", "1", "--work-dir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    found = measures(result)
    for key in ("history", "run6"):
        assert found[f"{key}_ratio"]["value"] == pytest.approx(
            found[f"{key}_report"]["value"] / found[f"{key}_to_snapshot"]["value"], rel=2e-2)
        assert found[f"{key}_ratio"]["met"] == (found[f"{key}_ratio"]["value"] <= 0.25)
        stages = result["last_week_stage_seconds"][key]
        assert set(stages) == {"ingest", "normalize", "aggregate", "rolling", "snapshot", "report"}
        assert found[f"{key}_to_snapshot"]["value"] == pytest.approx(
            sum(v for k, v in stages.items() if k != "report"), rel=2e-2)
    assert found["par_ratio"]["value"] == pytest.approx(
        found["par_report"]["value"] / found["par_skip"]["value"], rel=1e-2)


@pytest.mark.slow
def test_stage_parts_times_each_part_of_the_window_stages(built: Path):
    done = subprocess.run([sys.executable, str(BENCH / "stage_parts.py"), str(built / "build"), "--weeks", "6"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_parts(done.stdout, ["rolling", "snapshot"])


@pytest.mark.slow
def test_stage_parts_builds_weeks_stage_after_stage_from_sources(tmp_path: Path):
    fixtures = BENCH.parent / "data" / "fixtures" / "otc"
    done = subprocess.run([sys.executable, str(BENCH / "stage_parts.py"), str(tmp_path / "build"),
                           "--source-dir", str(fixtures), "--weeks", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_parts(done.stdout, ["ingest", "normalize", "aggregate", "rolling", "snapshot"])
    records = sorted(p.name for p in (tmp_path / "build" / "_records" / "NMS_TIER_1").iterdir())
    assert len(records) == 3 * 5  # the 2 measured weeks and the one before, every stage
    again = subprocess.run([sys.executable, str(BENCH / "stage_parts.py"), str(tmp_path / "build"),
                            "--source-dir", str(fixtures)], capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "is not empty" in again.stderr


def assert_parts(stdout: str, stages: list[str]) -> None:
    lines = stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == stages
    for line in lines:
        parts = dict(part.rsplit(" ", 2)[:2] for part in line.split(": ", 1)[1].removesuffix(" (a week)").split(", "))
        assert set(parts) == {"records", "read", "compute", "write tables", "write record", "total"}
        assert 0 < sum(float(parts[p]) for p in parts if p != "total") <= float(parts["total"])
