"""`otc sql`, `otc status` and `otc report`; the verification queries run verbatim.

The build is the session's two fixture backfills (conftest.py: `fixture_rerun`, a first run
and an identical second one). Queries go through the command's own entry point, `main(argv)`,
in-process; the real `python -m otc` runs where the process itself matters: the exit code and
the one-line error, the working directory `status` resolves sources against, and no outputs.
`otc report` reads only file names, so its tests make the pages by hand.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from doit_helpers import RANGE, FixtureRun, copy_project, doit
from otc.cli import main
from otc.console_table import MIN_WIDTH, cut, fit, text_width
from otc.layout import Layout, Stage
from otc.query import RECORD_VIEWS, TABLE_DESCRIPTIONS
from otc.schemas import Table
from otc.store import write_json
from otc.tiers import Tier

MANIFEST_QUERY = """SELECT week_ending, tier, stage, row_count_inserted, row_count_normalized
FROM otc_week_manifest
WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
ORDER BY week_ending;"""

COUNTS_QUERY = """SELECT 
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

CHAIN_QUERY = """SELECT execution_id, pipeline_name, parent_execution_id, batch_id
FROM executions
WHERE batch_id LIKE 'backfill_NMS_TIER_1%'
ORDER BY started_at;"""

PARENT_PIPELINE = {
    "otc.ingest_week": "otc.backfill_range",
    "otc.normalize_week": "otc.ingest_week",
    "otc.aggregate_week": "otc.normalize_week",
    "otc.compute_rolling_6w": "otc.backfill_range",
    "otc.research_snapshot_week": "otc.compute_rolling_6w",
    "otc.report_week": "otc.research_snapshot_week",
}
PUBLIC_TABLES = sorted([t.value for t in Table] + list(RECORD_VIEWS))


def otc(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real `otc` command, run in `root`; its output is a pipe and COLUMNS unset, so
    nothing is cut to a terminal's width."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([sys.executable, "-m", "otc", *args], cwd=root, input=stdin, env=env,
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
    """`otc sql <query> <args> --build-dir <built>/build`, in-process (COLUMNS unset: not cut)."""
    monkeypatch.delenv("COLUMNS", raising=False)

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


def test_manifest_query(sql_json):
    rows = sql_json(MANIFEST_QUERY)
    assert rows == [
        {"week_ending": week, "tier": "NMS_TIER_1", "stage": stage,
         "row_count_inserted": 12, "row_count_normalized": normalized}
        for week, stage, normalized in [
            ("2025-11-21", "AGGREGATED", 12), ("2025-11-28", "AGGREGATED", 12),
            ("2025-12-05", "AGGREGATED", 11), ("2025-12-12", "AGGREGATED", 12),
            ("2025-12-19", "AGGREGATED", 12), ("2025-12-26", "SNAPSHOT", 12),
        ]
    ]


def test_counts_query(sql_json):
    rows = sql_json(COUNTS_QUERY)
    assert rows == [
        {"stage": "raw", "records": 72}, {"stage": "normalized", "records": 71},
        {"stage": "summary", "records": 30}, {"stage": "rolling", "records": 5},
        {"stage": "snapshot", "records": 5},
    ]


def test_execution_chain_query(sql_json):
    rows = sql_json(CHAIN_QUERY)
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
                                          "NITE           31.2513", "(1 row)"]


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


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["status"]], ids=["sql", "status"])
def test_no_outputs_hint_names_the_build_dir_given(command: list[str], tmp_path: Path):
    result = otc(tmp_path, *command, "--build-dir", "out/my build")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "ERROR: No outputs in out/my build/ yet: run a backfill first, "
        "e.g. doit backfill tier=NMS_TIER_1 weeks_back=6 'build_dir=out/my build'"]


def columns_of(text: str) -> list[dict[str, str]]:
    """The rows of a text table as header -> cell, columns found from the rule under the header
    (cells may be blank or hold spaces)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    spans, at = [], 0
    for dashes in lines[rule].split("  "):
        spans.append((at, at + len(dashes)))
        at += len(dashes) + 2
    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in spans]
    header = cells(lines[rule - 1])
    body = [line for line in lines[rule + 1:] if line and not line.startswith("(")]
    body = body[:next((i for i, line in enumerate(body) if line.startswith("Latest batch")), len(body))]
    return [dict(zip(header, cells(line))) for line in body]


def fetch_record(week: str, status: str, fetched_at: str) -> dict:
    return {
        "stage": "fetch", "tier": "NMS_TIER_1", "week_ending": week,
        "execution": {"execution_id": f"exec_{week}", "pipeline_name": "otc.fetch_week", "status": status,
                      "error": None if status == "COMPLETED" else "Cannot reach FINRA at http://127.0.0.1:9"},
        **({"fetch": {"url": "http://127.0.0.1:9/data/group/otcMarket/name/weeklySummary", "pages": 1,
                      "rows": 12, "fetched_at": fetched_at}} if status == "COMPLETED" else {}),
    }


def test_status_shows_each_week_and_the_latest_batch(built: Path, tmp_path: Path):
    project = copy_project(built, tmp_path / "project")
    source = project / "data/fixtures/otc/week_2025-12-19.psv"
    source.write_text(source.read_text() + "2025-12-19|NMS_TIER_1|ZZZZ|NITE|1|1\n")
    layout = Layout(project / "build")
    write_json(fetch_record("2025-12-12", "COMPLETED", "2025-12-13T04:30:41.123456-05:00"),
               layout.record_file(Stage.FETCH, Tier.NMS_TIER_1, dt.date(2025, 12, 12)))
    write_json(fetch_record("2025-11-28", "FAILED", ""),
               layout.record_file(Stage.FETCH, Tier.NMS_TIER_1, dt.date(2025, 11, 28)))
    result = otc(project, "status", "--tier", "nms tier 1")
    assert result.returncode == 0, result.stderr
    rows = {row["week_ending"]: row for row in columns_of(result.stdout)}
    assert list(rows) == ["2025-11-21", "2025-11-28", "2025-12-05", "2025-12-12", "2025-12-19", "2025-12-26"]
    assert rows["2025-12-05"] == {
        "tier": "NMS_TIER_1", "week_ending": "2025-12-05", "stage": "AGGREGATED", "raw": "12",
        "normalized": "11", "rejected": "1", "source": "unchanged", "fetched (UTC)": "",
        "last_batch": rows["2025-12-05"]["last_batch"]}
    assert rows["2025-12-05"]["last_batch"].startswith("backfill_NMS_TIER_1_2025-11-21_2025-12-26_")
    assert rows["2025-12-19"]["source"] == "changed"
    assert {week: row["fetched (UTC)"] for week, row in rows.items() if row["fetched (UTC)"]} == {
        "2025-12-12": "2025-12-13 09:30"}  # a failed fetch (2025-11-28) shows nothing
    lines = result.stdout.splitlines()
    latest = [i for i, line in enumerate(lines) if line.startswith("Latest batch: ")]
    assert len(latest) == 1 and lines[latest[0]].startswith("Latest batch: backfill_NMS_TIER_1_2025-11-21_2025-12-26_")
    assert lines[latest[0] + 1] == "  status: COMPLETED, weeks processed 6/6, stages run 0, up to date 20"


def test_status_shows_each_tiers_latest_batch(tmp_path: Path, capsys):
    layout = Layout(tmp_path / "build")
    write_json([], layout.manifest_file)
    metrics = {"weeks_processed": 1, "weeks_requested": 1, "stages_run": 5, "stages_up_to_date": 0, "errors": []}
    for tier, started in [("OTC", "10:00"), ("NMS_TIER_1", "09:00"), ("NMS_TIER_1", "11:00"), ("OTC", "08:00")]:
        batch_id = f"backfill_{tier}_{started}"
        write_json({"batch_id": batch_id, "params": {"tier": tier}, "status": "COMPLETED",
                    "started_at": f"2026-01-05T{started}:00+00:00", "metrics": metrics}, layout.batch_file(batch_id))
    assert main(["status", "--build-dir", str(layout.build_dir)]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Latest batch")] == [
        "Latest batch: backfill_NMS_TIER_1_11:00", "Latest batch: backfill_OTC_10:00"]
    assert main(["status", "--tier", "OTC", "--build-dir", str(layout.build_dir)]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("Latest batch")] == [
        "Latest batch: backfill_OTC_10:00"]


def test_status_without_a_terminal_cuts_nothing_and_with_one_fits_it(built: Path, capsys, monkeypatch):
    monkeypatch.chdir(built)
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["status"]) == 0
    full = capsys.readouterr().out
    assert max(len(line) for line in full.splitlines()) > 100
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["status"]) == 0
    fitted = capsys.readouterr().out
    assert max(text_width(line) for line in fitted.splitlines()) <= 80
    assert "(6 rows; 7 of 9 columns, --wide shows all)" in fitted.splitlines()
    assert main(["status", "--wide"]) == 0
    assert capsys.readouterr().out == full


# --- the table format: fitted to the terminal ----------------------------------------------


def test_table_fits_the_terminal_leaving_out_columns_on_the_right(sql, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = sql("SELECT * FROM otc_research_snapshot ORDER BY symbol")
    lines = result.stdout.splitlines()
    assert all(text_width(line) <= 80 for line in lines), lines
    assert lines[0].split() == ["week_ending", "tier", "symbol", "total_volume", "total_trades", "venue_count"]
    assert lines[2].split() == ["2025-12-26", "NMS_TIER_1", "AAPL", "2293800", "9100", "3"]
    assert lines[-1] == "(5 rows; 6 of 20 columns, --wide shows all)"
    wide = sql("SELECT * FROM otc_research_snapshot ORDER BY symbol", "--wide").stdout.splitlines()
    assert len(wide[0].split()) == 20 and max(len(line) for line in wide) > 200
    assert wide[-1] == "(5 rows)"


def test_table_cuts_the_widest_values_to_fit(sql, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "50")
    result = sql("SELECT symbol, batch_id FROM otc_symbol_summary WHERE week_ending = DATE '2025-12-26' "
                 "ORDER BY symbol LIMIT 2")
    lines = result.stdout.splitlines()
    assert lines[0] == "symbol  batch_id"
    assert [text_width(line) for line in lines[1:4]] == [50, 50, 50]
    assert lines[2].startswith("AAPL    backfill_NMS_TIER_1_2025-11-21_2025-12-26") and lines[2].endswith("…")
    assert lines[-1] == "(2 rows; cut to fit, --wide shows all)"


@pytest.mark.parametrize(("natural", "width", "expected"), [
    pytest.param([4, 10, 3], 30, [4, 10, 3], id="fits"),
    pytest.param([4, 10, 3], None, [4, 10, 3], id="no-terminal"),
    pytest.param([4, 40, 30], 60, [4, 26, 26], id="widest-cut-to-one-cap"),
    pytest.param([4, 40, 20], 60, [4, 32, 20], id="only-the-widest-cut"),
    pytest.param([10, 20, 30], 35, [10, 20], id="right-left-out-then-fits"),
    pytest.param([10, 30, 30, 30], 50, [10, 18, 18], id="right-left-out-then-cut"),
    pytest.param([10, 30, 30, 30], 40, [10, 28], id="right-left-out-then-cut-more"),
    pytest.param([100, 5], 20, [20], id="first-column-alone"),
])
def test_fit(natural: list[int], width: int | None, expected: list[int]):
    widths = fit(natural, width)
    assert widths == expected
    if width is not None:
        assert sum(widths) + 2 * (len(widths) - 1) <= width
        assert all(w >= min(n, MIN_WIDTH) for w, n in zip(widths, natural)) or len(widths) == 1


@pytest.mark.parametrize(("text", "width", "expected"), [
    pytest.param("backfill", 8, "backfill", id="fits"),
    pytest.param("backfill", 5, "back…", id="ascii"),
    pytest.param("漢字漢字", 5, "漢字…", id="wide-characters"),
    pytest.param("e\u0301te\u0301", 3, "e\u0301te\u0301", id="combining-marks-take-no-column"),
])
def test_cut(text: str, width: int, expected: str):
    assert cut(text, width) == expected and text_width(cut(text, width)) <= width


def test_table_escapes_line_breaks_in_values(sql):
    result = sql("SELECT 'a' || chr(10) || 'b' AS v, NULL AS n")
    assert result.stdout.splitlines()[2].split() == ["a\\nb", "NULL"]


def test_show_tables_lists_exactly_the_public_tables_and_views(sql_json):
    assert [row["name"] for row in sql_json("SHOW TABLES")] == PUBLIC_TABLES
    assert sorted(row["table_name"] for row in sql_json("SELECT table_name FROM information_schema.tables")) \
        == PUBLIC_TABLES
    assert sorted(TABLE_DESCRIPTIONS) == PUBLIC_TABLES


# --- otc report ---------------------------------------------------------------------------

#: Report pages made by hand: `otc report` reads only their names.
PAGES = {"NMS_TIER_1": ["2025-12-19", "2025-12-26"], "NMS_TIER_2": ["2025-12-26"], "OTC": ["2025-12-12"]}


@pytest.fixture
def reports(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path / "build")
    for tier, weeks in PAGES.items():
        for week in weeks:
            page = layout.report_file(Tier(tier), dt.date.fromisoformat(week))
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text("<html></html>")
    (layout.report_dir / "index.html").write_text("<html></html>")
    (layout.report_dir / "OTC" / "notes.html").write_text("not a week")
    return layout


def report(layout: Layout, capsys, *args: str) -> Done:
    capsys.readouterr()
    code = main(["report", *args, "--build-dir", str(layout.build_dir)])
    out, err = capsys.readouterr()
    return Done(code, out, err)


@pytest.mark.parametrize(("args", "tier", "week"), [
    pytest.param([], "NMS_TIER_1", "2025-12-26", id="newest-week-first-tier-on-a-tie"),
    pytest.param(["--tier", "OTC"], "OTC", "2025-12-12", id="tier"),
    pytest.param(["--tier", "t2"], "NMS_TIER_2", "2025-12-26", id="tier-by-finra-label"),
    pytest.param(["--week", "2025-12-19"], "NMS_TIER_1", "2025-12-19", id="week"),
    pytest.param(["--week", "2025-12-12"], "OTC", "2025-12-12", id="week-of-another-tier"),
    pytest.param(["--tier", "NMS_TIER_2", "--week", "2025-12-26"], "NMS_TIER_2", "2025-12-26", id="tier-and-week"),
])
def test_report_prints_the_page(reports: Layout, capsys, args: list[str], tier: str, week: str):
    result = report(reports, capsys, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{reports.build_dir}/report/{tier}/{week}.html\n"
    assert Path(result.stdout.strip()).is_file()


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--week", "2025-12-05"], "No report for the week ending 2025-12-05 in {report}/; "
                 "the newest is NMS_TIER_1 2025-12-26", id="no-such-week"),
    pytest.param(["--tier", "OTC", "--week", "2025-12-26"], "No OTC report for the week ending 2025-12-26 in "
                 "{report}/; the newest is OTC 2025-12-12", id="no-such-week-for-the-tier"),
])
def test_report_of_a_week_without_one_is_one_error_line(reports: Layout, capsys, args: list[str], message: str):
    result = report(reports, capsys, *args)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == ["ERROR: " + message.format(report=reports.report_dir)]


def test_report_with_no_reports_says_to_run_a_backfill(tmp_path: Path, capsys):
    result = report(Layout(tmp_path / "b"), capsys)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"ERROR: No reports in {tmp_path}/b/report/ yet: run a backfill first, "
        f"e.g. doit backfill tier=NMS_TIER_1 weeks_back=6 build_dir={tmp_path}/b"]


def test_report_week_must_be_a_friday(reports: Layout, capsys):
    with pytest.raises(SystemExit) as done:
        main(["report", "--week", "2025-12-20", "--build-dir", str(reports.build_dir)])
    assert done.value.code == 2
    assert "week must be a Friday, got 2025-12-20 (Saturday). Nearest Friday: 2025-12-26" in capsys.readouterr().err


def test_report_after_a_backfill(built: Path, tmp_path: Path, capsys):
    # the shared fixture backfill leaves the report out (skip_report=true): render it in a copy
    built = copy_project(built, tmp_path / "copy")
    assert doit(built, "backfill", *[arg for arg in RANGE if arg != "skip_report=true"]).returncode == 0
    result = report(Layout(built / "build"), capsys)
    assert result.stdout == f"{built}/build/report/NMS_TIER_1/2025-12-26.html\n"
    assert Path(result.stdout.strip()).read_text().lstrip().lower().startswith("<!doctype html>")


# --- help ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sql", "status", "report"])
def test_help_for_every_command(command: str, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0 and "--build-dir" in capsys.readouterr().out


def test_sql_help_documents_its_options_and_every_table(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit):
        main(["sql", "--help"])
    out = capsys.readouterr().out
    for option in ("--build-dir BUILD_DIR", "--format {table,csv,json}", "--wide"):
        assert option in out
    listed = {line.split()[0]: line.split(None, 1)[1] for line in out.split("tables:\n")[1].splitlines()
              if line.startswith("  ")}
    assert listed == TABLE_DESCRIPTIONS
