"""The file layer's outputs are the data contract of docs/tables.md.

The generic stage runner (otc.runner) writes the six fixture weeks (ingest, normalize, aggregate) and the
last week's rolling and snapshot into a temporary build directory; the tests read it back the way
users do: one pyarrow dataset per table directory.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from otc.layout import Layout, Stage
from otc.lineage import Batch
from otc.schemas import Table
from otc.runner import StageJob, read_record, run_stage
from otc.stages import SPECS
from otc.tiers import Tier


import golden_values as golden  # tests/ is on sys.path under pytest

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "otc"
TIER = Tier.NMS_TIER_1
WEEKS = (dt.date(2025, 11, 21), dt.date(2025, 11, 28), dt.date(2025, 12, 5),
         dt.date(2025, 12, 12), dt.date(2025, 12, 19), dt.date(2025, 12, 26))
LAST_WEEK = WEEKS[-1]
STARTED = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)

# --- the contract, written out by hand from docs/tables.md -------------------------------

DATE, INT, STR, BOOL = pa.date32(), pa.int64(), pa.string(), pa.bool_()
TIME = pa.timestamp("us", tz="UTC")
AVG_TRADE_SIZE, SHARE_PCT, TREND_PCT = pa.decimal128(18, 2), pa.decimal128(9, 4), pa.decimal128(18, 2)
KEY = {"week_ending": DATE, "tier": STR, "execution_id": STR, "batch_id": STR}

CONTRACT: dict[str, dict[str, pa.DataType]] = {
    "otc_raw": {
        "record_hash": STR, "source_line_number": INT, "symbol": STR, "mpid": STR,
        "total_shares": INT, "total_trades": INT, "issue_name": STR, "market_participant_name": STR,
        "source_last_update_date": DATE, "ingested_at": TIME,
    },
    "otc_rejects": {
        "stage": STR, "reason_code": STR, "reason_detail": STR, "source_locator": STR,
        "line_number": INT, "raw_line": STR, "raw_record_hash": STR, "created_at": TIME,
    },
    "otc_normalization_map": {
        "raw_record_hash": STR, "symbol": STR, "mpid": STR, "status": STR,
        "reject_reason": STR, "reject_detail": STR, "created_at": TIME,
    },
    "otc_venue_volume": {
        "symbol": STR, "mpid": STR, "total_shares": INT, "total_trades": INT,
        "avg_trade_size": AVG_TRADE_SIZE, "raw_record_hash": STR, "normalized_at": TIME,
    },
    "otc_symbol_summary": {
        "symbol": STR, "total_volume": INT, "total_trades": INT, "venue_count": INT,
        "avg_trade_size": AVG_TRADE_SIZE, "calculation_version": STR, "calculated_at": TIME,
    },
    "otc_venue_share": {
        "mpid": STR, "total_volume": INT, "total_trades": INT, "market_share_pct": SHARE_PCT,
        "calculation_version": STR, "calculated_at": TIME,
    },
    "otc_quality_checks": {
        "pipeline_name": STR, "check_name": STR, "check_category": STR, "status": STR,
        "check_value": STR, "expected_value": STR, "tolerance": STR, "message": STR, "created_at": TIME,
    },
    "otc_symbol_rolling_6w": {
        "symbol": STR, "avg_6w_volume": INT, "avg_6w_trades": INT, "trend_direction": STR,
        "trend_pct": TREND_PCT, "weeks_in_window": INT, "is_complete_window": BOOL,
        "rolling_version": STR, "calculated_at": TIME,
    },
    "otc_research_snapshot": {
        "symbol": STR, "total_volume": INT, "total_trades": INT, "venue_count": INT,
        "avg_trade_size": AVG_TRADE_SIZE, "top_venue_mpid": STR, "top_venue_share_pct": SHARE_PCT,
        "rolling_avg_6w_volume": INT, "rolling_avg_6w_trades": INT, "rolling_trend_direction": STR,
        "rolling_weeks_available": INT, "rolling_is_complete": BOOL, "has_rolling_data": BOOL,
        "quality_status": STR, "snapshot_version": STR, "created_at": TIME,
    },
}

WEEK_FILES = {f"{TIER.value}/{w}.parquet" for w in WEEKS}
LAST_WEEK_FILE = {f"{TIER.value}/{LAST_WEEK}.parquet"}
EXPECTED_FILES = {
    "otc_raw": WEEK_FILES,
    "otc_rejects": {f"{TIER.value}/{w}.{stage}.parquet" for w in WEEKS for stage in ("ingest", "normalize")},
    "otc_normalization_map": WEEK_FILES,
    "otc_venue_volume": WEEK_FILES,
    "otc_symbol_summary": WEEK_FILES,
    "otc_venue_share": WEEK_FILES,
    "otc_quality_checks": {f"{TIER.value}/{w}.aggregate.parquet" for w in WEEKS}
    | {f"{TIER.value}/{LAST_WEEK}.rolling.parquet"},
    "otc_symbol_rolling_6w": LAST_WEEK_FILE,
    "otc_research_snapshot": LAST_WEEK_FILE,
}
LINEAGE_AND_TIME = {"execution_id", "batch_id", "ingested_at", "created_at", "normalized_at", "calculated_at"}


def build(build_dir: Path, batch_id: str = "batch_x", weeks=WEEKS, sources: dict | None = None) -> Layout:
    """Run every stage of `weeks` and the last week's rolling and snapshot into `build_dir`."""
    layout = Layout(build_dir)
    batch = Batch(batch_id, "exec_root", STARTED)
    sources = sources or {}
    for week in weeks:
        job = StageJob(TIER, week, layout, source_path=sources.get(week, FIXTURES / f"week_{week}.psv"))
        for stage in (Stage.INGEST, Stage.NORMALIZE, Stage.AGGREGATE):
            run_stage(SPECS[stage], job, batch)
    for stage in (Stage.ROLLING, Stage.SNAPSHOT):
        run_stage(SPECS[stage], StageJob(TIER, weeks[-1], layout), batch)
    return layout


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Layout:
    return build(tmp_path_factory.mktemp("run") / "build")


def read_dataset(layout: Layout, table: str) -> pa.Table:
    return ds.dataset(layout.build_dir / table, format="parquet").to_table()


def files_under(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


# --- schema and layout ---------------------------------------------------------------------


def test_contract_names_every_table():
    assert {t.value for t in Table} == set(CONTRACT)


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_table_directory_reads_as_one_dataset_with_contract_columns(layout, table):
    data = read_dataset(layout, table)
    expected = {**KEY, **CONTRACT[table]}
    assert len(data.schema.names) == len(set(data.schema.names))
    assert {f.name: f.type for f in data.schema} == expected


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_each_table_has_one_file_per_tier_week_and_stage(layout, table):
    assert files_under(layout.build_dir / table) == EXPECTED_FILES[table]


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_each_file_carries_its_own_week_tier_and_lineage(layout, table):
    for relative in EXPECTED_FILES[table]:
        data = pq.read_table(layout.build_dir / table / relative)
        week = dt.date.fromisoformat(Path(relative).name[:10])
        assert set(data["week_ending"].to_pylist()) <= {week}
        assert set(data["tier"].to_pylist()) <= {TIER.value}
        assert set(data["batch_id"].to_pylist()) <= {"batch_x"}
        assert data["execution_id"].null_count == 0


def test_no_temporary_files_are_left(layout):
    leftovers = [p for p in layout.build_dir.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert leftovers == []


# --- content through the file layer --------------------------------------------------------


def test_datasets_hold_the_golden_rows(layout):
    summary = read_dataset(layout, "otc_symbol_summary").sort_by([("week_ending", "ascending"), ("symbol", "ascending")])
    assert summary.select(list(golden.SYMBOL_SUMMARY[0])).to_pylist() == golden.SYMBOL_SUMMARY
    snapshot = read_dataset(layout, "otc_research_snapshot").sort_by("symbol")
    assert snapshot.select(list(golden.SNAPSHOT_2025_12_26[0])).to_pylist() == golden.SNAPSHOT_2025_12_26
    rejects = read_dataset(layout, "otc_rejects")
    assert rejects.select(list(golden.REJECTS[0])).to_pylist() == golden.REJECTS


def assert_same_tables(first_build: Layout, second_build: Layout) -> None:
    """The same files, each with the same schema and rows (lineage ids and times aside)."""
    for table in sorted(CONTRACT):
        assert files_under(second_build.build_dir / table) == files_under(first_build.build_dir / table)
        for relative in sorted(files_under(first_build.build_dir / table)):
            first = pq.read_table(first_build.build_dir / table / relative)
            second = pq.read_table(second_build.build_dir / table / relative)
            keep = [c for c in first.column_names if c not in LINEAGE_AND_TIME]
            assert first.schema == second.schema
            assert first.select(keep).equals(second.select(keep)), f"{table}/{relative} differs"


def test_same_weeks_built_twice_give_equal_tables(layout, tmp_path):
    assert_same_tables(layout, build(tmp_path / "build", batch_id="batch_y"))


def test_tables_read_from_memory_give_the_same_outputs_as_tables_read_from_files(layout, tmp_path, monkeypatch):
    """Stages read what the stage before them wrote from memory (`otc.store`); with nothing
    kept, every read goes to the file. Both give the same tables."""
    from otc import store

    for kept in ("_WRITTEN", "_SPANS"):
        monkeypatch.setattr(store, kept, store._RecentTables(0))
    cold = build(tmp_path / "build", batch_id="batch_y")
    assert store._WRITTEN.entries == {} and store._SPANS.entries == {}
    assert_same_tables(layout, cold)


def test_every_declared_read_of_a_kept_table_equals_the_read_of_its_file(tmp_path, monkeypatch):
    from otc import store

    kept = store._RecentTables(2**30)
    monkeypatch.setattr(store, "_WRITTEN", kept)
    built = build(tmp_path / "build")
    reads = [(read.table, read.columns, read.dictionary) for spec in SPECS.values() for read in spec.reads]
    reads += [(table, None, ()) for table in Table]  # every column, as `doit`'s users' readers see them
    checked = set()
    for path in list(kept.entries):
        table = Table(Path(path).relative_to(built.build_dir).parts[0])
        for read_table, columns, dictionary in reads:
            if read_table is not table:
                continue
            names = tuple(columns or table.schema.names)
            encoded = store._encoded(names, dictionary)
            from_memory = kept.get(Path(path), names, encoded)
            from_file = store._read_file(path, names, encoded)
            assert from_memory is not None
            assert from_memory.schema == from_file.schema, path
            assert from_memory.equals(from_file), path
            checked.add(table)
    assert checked == set(Table)


# --- a week whose ingest fails ---------------------------------------------------------------


@pytest.fixture()
def bad_header_build(tmp_path) -> Layout:
    """2025-12-19 has an unknown header; 2025-12-26 is the fixture week."""
    bad = tmp_path / "bad.psv"
    bad.write_text("Week|Ticker|Venue|Volume\n2025-12-19|AAPL|NITE|100\n", encoding="utf-8")
    return build(tmp_path / "build", weeks=WEEKS[-2:], sources={WEEKS[-2]: bad})


def test_failed_ingest_writes_empty_tables_and_a_failed_record(bad_header_build):
    layout, week = bad_header_build, WEEKS[-2]
    record = read_record(layout, Stage.INGEST, TIER, week)
    assert record["execution"]["status"] == "FAILED"
    error = record["execution"]["error"]
    assert "WeekEnding|Tier|Symbol|MPID|TotalShares|TotalTrades" in error
    assert ("tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
            "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate") in error
    for table in (Table.RAW, Table.REJECTS):
        data = pq.read_table(layout.table_file(table, TIER, week, Stage.INGEST))
        assert data.num_rows == 0
        assert set(data.schema.names) == set(KEY) | set(CONTRACT[table.value])


@pytest.mark.parametrize("stage", [Stage.NORMALIZE, Stage.AGGREGATE])
def test_stages_after_a_failed_ingest_record_failure_and_write_empty_tables(bad_header_build, stage):
    layout, week = bad_header_build, WEEKS[-2]
    assert read_record(layout, stage, TIER, week)["execution"]["status"] == "FAILED"
    for table, path in layout.table_files(SPECS[stage].writes, stage, TIER, week).items():
        assert pq.read_table(path).num_rows == 0, table


def test_other_weeks_go_on_after_a_failed_ingest(bad_header_build):
    layout = bad_header_build
    assert read_record(layout, Stage.AGGREGATE, TIER, LAST_WEEK)["execution"]["status"] == "COMPLETED"
    rolling = read_dataset(layout, "otc_symbol_rolling_6w")
    assert rolling.select(["symbol", "weeks_in_window"]).to_pylist() == [
        {"symbol": s, "weeks_in_window": 1} for s in ("AAPL", "AMD", "MSFT", "NVDA", "TSLA")
    ]
    snapshot = read_dataset(layout, "otc_research_snapshot")
    assert snapshot["top_venue_share_pct"].to_pylist()[0] == Decimal("43.6176")


def test_run_summary_reads_checks_and_rejects_from_records_or_from_older_records_tables(layout, tmp_path):
    from otc.batch import quality_outcome, rejects_by_reason

    records = [read_record(layout, stage, TIER, week) for week in WEEKS for stage in (Stage.INGEST, Stage.NORMALIZE)]
    checks = [read_record(layout, Stage.AGGREGATE, TIER, week) for week in WEEKS]
    assert rejects_by_reason(layout, TIER, records) == {"INVALID_SYMBOL": 1}
    assert quality_outcome(layout, TIER, checks) == {"FAIL": [], "WARN": []}
    # a record written before stages summarised their checks and rejects: read from the tables
    older = [{k: v for k, v in r.items() if k not in ("checks", "rejects_by_reason")} for r in records + checks]
    assert rejects_by_reason(layout, TIER, older[:len(records)]) == {"INVALID_SYMBOL": 1}
    assert quality_outcome(layout, TIER, older[len(records):]) == {"FAIL": [], "WARN": []}
    failing = dict(checks[0], checks={"FAIL": ["market_share_sum_100"], "PASS": ["no_negative_volumes"]})
    assert quality_outcome(layout, TIER, [failing]) == {"FAIL": ["market_share_sum_100 2025-11-21"], "WARN": []}


def test_a_span_week_counts_while_its_record_says_completed(tmp_path):
    from otc.runner import _CompletedRecords
    from otc.store import write_json

    path = tmp_path / "2025-12-26.aggregate.json"
    records = _CompletedRecords()
    assert not records.completed(path)  # no record: not completed
    write_json({"execution": {"status": "COMPLETED"}}, path)
    assert records.completed(path)
    write_json({"execution": {"status": "FAILED"}}, path)  # the stage ran again, and failed
    assert not records.completed(path)
    path.unlink()
    assert not records.completed(path)
