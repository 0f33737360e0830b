"""Smoke test of the benchmark (bench/): the generator and the runner at a tiny size.

The full benchmark (`python bench/run.py`) takes minutes and stays out of the test suite;
this only checks that it runs end to end and reports every measure with sane numbers. The
tests that run the benchmark's scripts are marked `slow` (`-m "not slow"` leaves them out);
the ones that call its functions directly are not.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as csv
import pytest

PROJECT = Path(__file__).resolve().parents[1]
BENCH = PROJECT / "bench"


@pytest.mark.slow
def test_generator_writes_exact_row_counts_in_both_formats(tmp_path: Path):
    for fmt, header in (("fixture", "WeekEnding|Tier|"), ("finra", "tierDescription|")):
        out = tmp_path / fmt
        done = subprocess.run(
            [sys.executable, str(BENCH / "generate.py"), str(out), "--rows-per-week", "500", "--weeks", "2",
             "--tiers", "NMS_TIER_1,OTC", "--format", fmt, "--bad-rate", "0.05", "--quiet"],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        files = sorted(out.glob("*/week_*.psv"))
        assert [f.relative_to(out).as_posix() for f in files] == [
            "nms_tier_1/week_2025-12-19.psv", "nms_tier_1/week_2025-12-26.psv",
            "otc/week_2025-12-19.psv", "otc/week_2025-12-26.psv",
        ]
        for f in files:
            lines = f.read_text().splitlines()
            assert lines[0].startswith(header)
            assert len(lines) == 501


@pytest.mark.slow
def test_generator_good_rows_follow_the_contract(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), str(tmp_path), "--rows-per-week", "3000", "--weeks", "2",
         "--quiet"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    weeks = []
    for f in sorted((tmp_path / "nms_tier_1").glob("*.psv")):
        table = csv.read_csv(f, parse_options=csv.ParseOptions(delimiter="|"),
                             convert_options=csv.ConvertOptions(column_types={"WeekEnding": "string"}))
        rows = table.to_pylist()
        assert {r["WeekEnding"] for r in rows} == {f.stem.removeprefix("week_")}
        assert all(len(r["MPID"]) == 4 and r["MPID"].isalnum() and r["MPID"].isupper() for r in rows)
        assert all(r["TotalShares"] > 0 and r["TotalTrades"] > 0 for r in rows)
        venues: dict[str, set[str]] = {}
        for r in rows:
            venues.setdefault(r["Symbol"], set()).add(r["MPID"])
        assert all(2 <= len(v) <= 40 for v in venues.values())
        assert len({(r["Symbol"], r["MPID"]) for r in rows}) == len(rows)
        weeks.append(set(venues))
    shared = len(weeks[0] & weeks[1]) / len(weeks[1])
    assert shared > 0.8


@pytest.mark.slow
def test_runner_reports_every_measure(tmp_path: Path):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--rows-per-week", "300", "--weeks", "2", "--repeats", "1",
         "--skip-memory", "--skip-tier-weeks", "--parallel-weeks", "3", "--work-dir", str(tmp_path / "work"),
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    by_key = {m["key"]: m for m in result["measures"]}
    assert {"floor", "peer", "cold_vs_floor", "cold_vs_peer", "rerun", "new_week", "one_week_cold",
            "new_week_vs_cold_per_week", "serial_12", "parallel_12", "parallel_12_ceiling",
            "serial_12_one_core"} <= set(by_key)
    for m in result["measures"]:
        assert m["value"] > 0, m
        assert m["value"] < 60, m
    for key in ("cold_vs_floor", "cold_vs_peer", "rerun", "new_week", "parallel_12"):
        assert by_key[key]["ratio"] > 0
        assert by_key[key]["met"] in (True, False)
    assert by_key["parallel_12_ceiling"]["ratio"] > 0
    # its first stage starts before the -n 2 run ends (one repeat: the median is that run's time);
    # its CPU time is not compared with that start: on a busy machine a process waits for a core
    for cpu, start in zip(result["parallel_12_cpu_seconds"], result["parallel_12_first_stage_seconds"]):
        assert cpu > 0 and 0 < start < by_key["parallel_12"]["value"]
    assert all(v > 0 for v in result["rows_per_second"].values())
    assert result["peer_equals_ours"] is True, result.get("peer_differences")
    assert result["machine"]["nproc"] >= 1
    table = done.stdout
    for label in ("(a) floor", "(b) peer", "(c) cold", "(d) identical re-run", "(e) one new week",
                  "(g) its ceiling", "Rows per second", "Machine:", "Command:"):
        assert label in table
    assert "(g) cold backfill, 3 weeks x 300 rows" in table  # --parallel-weeks


@pytest.mark.slow
def test_breakdown_times_every_step_of_a_week(tmp_path: Path):
    subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), str(tmp_path), "--rows-per-week", "300", "--weeks", "1",
         "--quiet"],
        check=True, timeout=60,
    )
    (week,) = tmp_path.glob("nms_tier_1/week_*.psv")
    done = subprocess.run([sys.executable, str(BENCH / "breakdown.py"), str(week), "--repeats", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for step in ("read the file", "ingest (the whole stage)", "split lines into fields", "record_hash",
                 "normalize", "aggregate", "write otc_raw (300 rows)", "total"):
        assert step in done.stdout, step


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parallel_ceiling_keeps_the_start_on_one_core():
    fastest = _bench_module("run").fastest_schedule
    # 0.25 s of start-up alone, then the other 3.75 CPU seconds over two cores
    assert fastest(4.0, 0.25, 2) == pytest.approx(0.25 + 1.875)
    assert fastest(4.0, 0.25, 1) == pytest.approx(4.0)
    assert fastest(0.2, 0.25, 2) == pytest.approx(0.25)  # less CPU than the start: the start bounds it


def test_first_stage_start_is_the_earliest_record(tmp_path: Path):
    first_stage_start = _bench_module("run").first_stage_start
    folder = tmp_path / "_records" / "NMS_TIER_1"
    folder.mkdir(parents=True)
    for name, started in (("2025-12-26.ingest", "2026-11-26T10:00:01.500000+00:00"),
                          ("2025-12-19.ingest", "2026-11-26T10:00:00.250000+00:00"),
                          ("2025-12-26.rolling", "2026-11-26T10:00:03+00:00")):
        (folder / f"{name}.json").write_text(json.dumps({"execution": {"started_at": started}}))
    expected = dt.datetime(2026, 11, 26, 10, 0, 0, 250000, tzinfo=dt.timezone.utc).timestamp()
    assert first_stage_start(tmp_path) == pytest.approx(expected)


@pytest.mark.slow
def test_handover_times_every_stage_of_a_parallel_backfill(tmp_path: Path):
    subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), str(tmp_path), "--rows-per-week", "300", "--weeks", "2",
         "--quiet"],
        check=True, timeout=60,
    )
    weeks = sorted(p.stem.removeprefix("week_") for p in (tmp_path / "nms_tier_1").glob("week_*.psv"))
    done = subprocess.run([sys.executable, str(BENCH / "handover.py"), str(tmp_path / "nms_tier_1"), *weeks],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.split("\nworkers: ", 1)[1]
    assert summary.startswith("2; stages: 8")  # 2 weeks x 3 stages, the rolling window, the snapshot
    assert "before the first stage: " in summary
    rows = re.findall(r"^  (ingest|normalize|aggregate)\s+(\d+)\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+$", summary, re.M)
    # 9 tasks (8 stages, the batch report) on 2 workers: at least 7 hand-overs, of which at most
    # 3 lead to a task that waits for others (rolling, snapshot, report) and are not counted
    assert sum(int(count) for _, count in rows) >= 4, summary
    assert "after the last stage until doit returns: " in summary


_BURN = """
import multiprocessing, time

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

if __name__ == "__main__":
    child = multiprocessing.Process(target=burn, args=(0.3,))
    child.start()
    burn(0.2)
    child.join()
"""


@pytest.mark.slow
def test_children_cpu_counts_the_processes_a_child_waited_for(tmp_path: Path):
    children_cpu_seconds = _bench_module("run").children_cpu_seconds
    script = tmp_path / "burn.py"
    script.write_text(_BURN)
    before = children_cpu_seconds()
    subprocess.run([sys.executable, str(script)], check=True, timeout=60)
    assert children_cpu_seconds() - before >= 0.45  # the child's 0.2 s and its own child's 0.3 s


def test_handover_summary_leaves_out_waits_for_inputs():
    summarize = _bench_module("handover").summarize
    lines = [  # kind, pid, start, end, task name
        "run 11 10.000 10.100 ingest:NMS_TIER_1:2025-12-19",
        "main 1 10.101 10.104 ingest:NMS_TIER_1:2025-12-19",
        "run 11 10.106 10.200 normalize:NMS_TIER_1:2025-12-19",
        "run 22 10.001 10.150 ingest:NMS_TIER_1:2025-12-26",
        "main 1 10.151 10.152 ingest:NMS_TIER_1:2025-12-26",
        "run 22 10.160 10.300 normalize:NMS_TIER_1:2025-12-26",
        "run 22 10.500 10.600 rolling:NMS_TIER_1:2025-12-26",  # waited for both weeks: not a hand-over
        "run 11 10.700 10.710 backfill",
    ]
    summary = summarize(lines, launched=9.750, returned=10.750)
    assert "workers: 2; stages: 5" in summary
    assert "before the first stage: 0.250 s" in summary
    # hand-overs after an ingest: 6 ms and 10 ms; doit's main process 3 ms and 1 ms
    assert re.search(r"^  ingest\s+2\s+8\.0\s+10\.0\s+2\.0$", summary, re.M), summary
    assert "normalize" not in summary.split("hand-over after", 1)[1].split("hand-over per worker")[0]
    assert "hand-over per worker, summed: 0.008 s" in summary
    assert "after the last stage until doit returns: 0.150 s" in summary


def test_handover_summary_says_when_nothing_was_timed():
    with pytest.raises(SystemExit, match="no stage timings"):
        _bench_module("handover").summarize([], launched=0.0, returned=1.0)
