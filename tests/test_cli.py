"""`otc sql` and `otc status` after a real fixtures backfill; the seed's queries verbatim.

The build is the session's two fixture backfills (conftest.py: `fixture_rerun`, a first run
and an identical second one). Queries go through the command's own entry point, `main(argv)`,
in-process; the real `python -m otc` runs where the process itself matters: the exit code and
the one-line error, the working directory `status` resolves sources against, and no outputs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from doit_helpers import FixtureRun, copy_project
from otc.cli import main

SEED_MANIFEST_QUERY = """SELECT week_ending, tier, stage, row_count_inserted, row_count_normalized
FROM otc_week_manifest
WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
ORDER BY week_ending;"""

SEED_COUNTS_QUERY = """SELECT 
    'raw' as stage, COUNT(*) as records
FROM otc_raw WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
UNION ALL
SELECT 'normalized', COUNT(*) FROM otc_venue_volume WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
UNION ALL
SELECT 'summary', COUNT(*) FROM otc_symbol_summary WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
UNION ALL
SELECT 'rolling', COUNT(*) FROM otc_symbol_rolling_6w WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
UNION ALL
SELECT 'snapshot', COUNT(*) FROM otc_research_snapshot WHERE batch_id LIKE 'backfill_NMS_TIER_1%';"""

SEED_CHAIN_QUERY = """SELECT execution_id, pipeline_name, parent_execution_id, batch_id
FROM executions
WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
ORDER BY started_at;"""

PARENT_PIPELINE = {
    "otc.ingest_week": "otc.backfill_range",
    "otc.normalize_week": "otc.ingest_week",
    "otc.aggregate_week": "otc.normalize_week",
    "otc.compute_rolling_6w": "otc.backfill_range",
    "otc.research_snapshot_week": "otc.compute_rolling_6w",
}


def otc(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real `otc` command, run in `root`."""
    return subprocess.run([sys.executable, "-m", "otc", *args], cwd=root, input=stdin,
                          capture_output=True, text=True, timeout=60)


@dataclasses.dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def built(fixture_rerun: FixtureRun) -> Path:
    """Two batches of the fixture weeks: the first, and a second, no-op one (read only)."""
    return fixture_rerun.root


@pytest.fixture
def sql(built: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Done]:
    """`otc sql <query> <args> --build-dir <built>/build`, in-process."""
    def run(query: str, *args: str, stdin: str | None = None) -> Done:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(["sql", query, *args, "--build-dir", str(built / "build")])
        out, err = capsys.readouterr()
        return Done(code, out, err)
    return run


@pytest.fixture
def sql_json(sql: Callable[..., Done]) -> Callable[[str], list[dict]]:
    def run(query: str) -> list[dict]:
        result = sql(query, "--format", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    return run


def test_seed_manifest_query(sql_json):
    rows = sql_json(SEED_MANIFEST_QUERY)
    assert rows == [
        {"week_ending": week, "tier": "NMS_TIER_1", "stage": stage,
         "row_count_inserted": 12, "row_count_normalized": normalized}
        for week, stage, normalized in [
            ("2025-11-21", "AGGREGATED", 12), ("2025-11-28", "AGGREGATED", 12),
            ("2025-12-05", "AGGREGATED", 11), ("2025-12-12", "AGGREGATED", 12),
            ("2025-12-19", "AGGREGATED", 12), ("2025-12-26", "SNAPSHOT", 12),
        ]
    ]


def test_seed_counts_query(sql_json):
    rows = sql_json(SEED_COUNTS_QUERY)
    assert rows == [
        {"stage": "raw", "records": 72}, {"stage": "normalized", "records": 71},
        {"stage": "summary", "records": 30}, {"stage": "rolling", "records": 5},
        {"stage": "snapshot", "records": 5},
    ]


def test_seed_execution_chain_query(sql_json):
    rows = sql_json(SEED_CHAIN_QUERY)
    by_id = {r["execution_id"]: r for r in rows}
    roots = [r for r in rows if r["parent_execution_id"] is None]
    assert [r["pipeline_name"] for r in roots] == ["otc.backfill_range", "otc.backfill_range"]
    children = [r for r in rows if r["parent_execution_id"] is not None]
    assert len(children) == 20
    for row in children:
        assert by_id[row["parent_execution_id"]]["pipeline_name"] == PARENT_PIPELINE[row["pipeline_name"]]


def test_query_from_standard_input(sql):
    result = sql("-", "--format", "csv",
                 stdin="SELECT symbol, trend_direction FROM otc_symbol_rolling_6w ORDER BY symbol")
    assert result.returncode == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["symbol", "trend_direction"], ["AAPL", "UP"], ["AMD", "DOWN"], ["MSFT", "DOWN"],
        ["NVDA", "FLAT"], ["TSLA", "FLAT"],
    ]


def test_json_keeps_decimals_exact_and_dates_iso(sql_json):
    rows = sql_json("SELECT week_ending, symbol, avg_trade_size FROM otc_symbol_summary "
                           "WHERE symbol = 'MSFT' AND week_ending = DATE '2025-12-26'")
    assert rows == [{"week_ending": "2025-12-26", "symbol": "MSFT", "avg_trade_size": "141.13"}]


def test_table_format(sql):
    result = sql("SELECT mpid, market_share_pct FROM otc_venue_share "
                 "WHERE week_ending = DATE '2025-12-12' AND mpid = 'NITE'")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["mpid  market_share_pct", "----  ----------------",
                                          "NITE  31.2513", "(1 row)"]


def test_table_without_files_is_an_empty_view_with_its_columns(sql, sql_json):
    rows = sql_json("SELECT count(*) AS n FROM otc_rejects WHERE stage = 'INGEST'")
    assert rows == [{"n": 0}]
    # otc_symbol_rolling_6w has files; a tier never built has none, yet every view exists
    result = sql("SELECT * FROM otc_research_snapshot WHERE tier = 'OTC'", "--format", "csv")
    assert result.stdout.splitlines()[0].startswith("week_ending,tier,symbol,total_volume")


def test_batches_view(sql_json):
    rows = sql_json("SELECT status, weeks_processed, stages_run, stages_up_to_date "
                           "FROM otc_batches ORDER BY started_at")
    assert rows == [
        {"status": "COMPLETED", "weeks_processed": 6, "stages_run": 20, "stages_up_to_date": 0},
        {"status": "COMPLETED", "weeks_processed": 6, "stages_run": 0, "stages_up_to_date": 20},
    ]


def test_bad_query_gives_duckdb_message_on_one_line_and_exit_2(built: Path):
    result = otc(built, "sql", "SELEC 1")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("ERROR: Parser Error")
    assert "Traceback" not in result.stderr


def test_no_outputs_says_to_run_a_backfill_first(tmp_path: Path):
    result = otc(tmp_path, "sql", "SELECT 1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "ERROR: No outputs in build/ yet: run a backfill first, e.g. doit backfill tier=NMS_TIER_1 weeks_back=6"]
    assert otc(tmp_path, "status").returncode == 1


def test_status_shows_each_week_and_the_latest_batch(built: Path, tmp_path: Path):
    project = copy_project(built, tmp_path / "project")
    source = project / "data/fixtures/otc/week_2025-12-19.psv"
    source.write_text(source.read_text() + "2025-12-19|NMS_TIER_1|ZZZZ|NITE|1|1\n")
    result = otc(project, "status", "--tier", "nms tier 1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    dec05 = next(line for line in lines if "2025-12-05" in line).split()
    assert dec05[:6] == ["NMS_TIER_1", "2025-12-05", "AGGREGATED", "12", "11", "1"]
    assert dec05[-1] == "unchanged"
    assert next(line for line in lines if "2025-12-19" in line).split()[-1] == "changed"
    assert any(line.startswith("Latest batch: backfill_NMS_TIER_1_") for line in lines)
    assert "  status: COMPLETED, weeks processed 6/6, stages run 0, up to date 20" in lines


@pytest.mark.parametrize("command", ["sql", "status"])
def test_help_for_every_command(command: str, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0 and "--build-dir" in capsys.readouterr().out
