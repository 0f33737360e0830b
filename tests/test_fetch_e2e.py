"""Fetching weeks from FINRA's Query API as doit tasks, end to end: the real `doit` command against
the stand-in server on 127.0.0.1 (docs/fetching.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import doit_helpers
from doit_helpers import PROJECT, metrics, stage_lines, table_contents
from finra_stub import FinraStub

T1 = "NMS_TIER_1"
# week ending -> FINRA's weekStartDate (the Monday)
MONDAY = {"2025-12-12": "2025-12-08", "2025-12-19": "2025-12-15", "2025-12-26": "2025-12-22"}
SOURCES = Path("data/otc/nms_tier_1")
ROWS = {"2025-12-19": 12001, "2025-12-26": 5000}  # three pages; exactly one full page, then 204


def config(**extra) -> dict:
    weeks = {MONDAY[w]: {"count": n} for w, n in ROWS.items()}
    return {"weeks": {"T1": weeks}, "faults": [], **extra}


def doit(root: Path, url: str, *args: str, timeout: float = 120, fresh: bool = False) -> subprocess.CompletedProcess:
    return doit_helpers.doit(root, *args, timeout=timeout, env={"OTC_FINRA_URL": url}, fresh=fresh)


def project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "dodo.py", root / "dodo.py")
    return root


@pytest.fixture(scope="module")
def stub():
    with FinraStub(config()) as server:
        yield server


@pytest.fixture(scope="module")
def fetched(tmp_path_factory, stub) -> Path:
    """The two published weeks fetched and built once: `weeks_back=3` with as_of=latest."""
    root = project(tmp_path_factory.mktemp("fetched") / "p")
    stub.clear_log()
    # a new interpreter: the tables built from local files are compared with these, forked
    result = doit(root, stub.url, "backfill", f"tier={T1}", "weeks_back=3", fresh=True)
    assert result.returncode == 0, result.stdout + result.stderr
    (root / "first-run.txt").write_text(result.stdout)
    (root / "first-requests.json").write_text(json.dumps(
        [{"method": r.method, "path": r.path, "body": r.body, "agent": r.headers.get("User-Agent")} for r in stub.requests]))
    return root


@pytest.fixture
def server(stub) -> FinraStub:
    """The module's stub, back at the first run's config, its request log empty."""
    stub.configure(**config())
    stub.clear_log()
    return stub


@pytest.fixture
def built(fetched: Path, tmp_path: Path, server) -> Path:
    """A copy of the fetched project."""
    return Path(shutil.copytree(fetched, tmp_path / "p", symlinks=True))


def test_latest_published_weeks_are_fetched_and_built(fetched: Path):
    out = (fetched / "first-run.txt").read_text()
    found = metrics(out)
    assert found["status"] == "COMPLETED" and found["weeks_processed"] == "2"
    assert "Range: as_of=latest: 2025-12-26 is FINRA's newest published NMS_TIER_1 week" in out
    # the range's first week is not published: reported, never requested
    assert found["errors"].startswith("2025-12-12: Not yet published by FINRA: NMS_TIER_1 week ending 2025-12-12 (")
    assert "about 2 weeks" in found["errors"] and "about 4 weeks" in found["errors"]
    assert found["total_ingested"] == str(12001 + 5000)
    requests = json.loads((fetched / "first-requests.json").read_text())
    assert requests[0]["method"] == "GET" and requests[0]["path"].startswith("/partitions/")
    offsets = sorted((r["body"]["dateRangeFilters"][0]["startDate"], r["body"]["offset"]) for r in requests[1:])
    assert offsets == [("2025-12-15", 0), ("2025-12-15", 5000), ("2025-12-15", 10000),
                       ("2025-12-22", 0), ("2025-12-22", 5000)]  # the 5,000-row week's 2nd page is a 204
    assert {r["agent"] for r in requests} == {"otc-backfill/0.1.0"}
    assert "2025-12-08" not in json.dumps(requests)
    assert sorted(p.name for p in (fetched / SOURCES).iterdir()) == ["week_2025-12-19.psv", "week_2025-12-26.psv"]


def test_fetched_file_is_finras_format_with_every_row_in_order(fetched: Path, stub):
    lines = (fetched / SOURCES / "week_2025-12-19.psv").read_text(encoding="utf-8").split("\n")
    assert lines[0] == ("tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
                        "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate")
    rows = stub.rows("T1", "2025-12-15")
    assert len(lines) == 1 + len(rows) + 1 and lines[-1] == ""
    first, last = lines[1].split("|"), lines[-2].split("|")
    assert first[1] == rows[0]["issueSymbolIdentifier"] and int(first[5]) == rows[0]["totalWeeklyShareQuantity"]
    assert last[1] == rows[-1]["issueSymbolIdentifier"] and int(last[6]) == rows[-1]["totalWeeklyTradeCount"]


def test_fetch_record_lineage_and_manifest(fetched: Path):
    records = fetched / "build/_records" / T1
    fetch = json.loads((records / "2025-12-19.fetch.json").read_text())
    ingest = json.loads((records / "2025-12-19.ingest.json").read_text())
    assert fetch["fetch"]["rows"] == 12001 and fetch["fetch"]["pages"] == 3
    assert fetch["fetch"]["url"].endswith("/data/group/otcMarket/name/weeklySummary")
    assert fetch["fetch"]["request_body"]["compareFilters"][0]["fieldValue"] == "T1"
    assert fetch["fetch"]["sha256"] == ingest["source"]["source_sha256"]
    assert {"bytes", "seconds", "fetched_at"} <= set(fetch["fetch"])
    # fetch is a child of the backfill, ingest a child of fetch
    assert fetch["execution"]["parent_execution_id"] == fetch["backfill_execution_id"]
    assert ingest["execution"]["parent_execution_id"] == fetch["execution"]["execution_id"]
    manifest = {e["week_ending"]: e for e in json.loads((fetched / "build/manifest.json").read_text())}
    assert manifest["2025-12-19"]["source_type"] == "finra_api"
    batch = json.loads(next((fetched / "build/batches").glob("*.json")).read_text())
    names = {e["pipeline_name"] for e in batch["executions"]}
    assert "otc.fetch_week" in names


def test_fetched_weeks_give_the_same_tables_as_the_same_rows_in_local_files(fetched: Path, tmp_path: Path):
    local = project(tmp_path / "local")
    shutil.copytree(fetched / SOURCES, local / "files")
    result = doit(local, "http://127.0.0.1:9", "backfill", f"tier={T1}", "start_week=2025-12-19",
                  "end_week=2025-12-26", "source_dir=files")
    assert result.returncode == 0, result.stderr
    assert table_contents(local / "build") == table_contents(fetched / "build")


def test_rerun_fetches_nothing_and_runs_nothing(built: Path, server):
    result = doit(built, server.url, "backfill", f"tier={T1}", "weeks_back=3")
    assert result.returncode == 0
    assert stage_lines(result.stdout) == []
    # the partitions list is cached in the build dir for 15 minutes: no request at all
    assert server.requests == []


def test_known_files_and_a_given_as_of_touch_no_network(built: Path):
    result = doit(built, "http://127.0.0.1:9", "list", "--all", f"tier={T1}", "weeks_back=2", "as_of=2025-12-26")
    assert result.returncode == 0, result.stderr
    assert "fetch:" not in result.stdout


def test_refetch_of_a_revised_week_reruns_only_that_weeks_chain_and_its_window(built: Path, server):
    rows = {MONDAY["2025-12-19"]: {"count": ROWS["2025-12-19"], "patch": {"17": {"totalWeeklyShareQuantity": 5}}},
            MONDAY["2025-12-26"]: {"count": ROWS["2025-12-26"]}}
    server.configure(weeks={"T1": rows})
    result = doit(built, server.url, "backfill", f"tier={T1}", "weeks_back=3", "refetch=true")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = stage_lines(result.stdout)
    assert sorted(ran) == sorted([
        f"fetch:{T1}:2025-12-19", f"fetch:{T1}:2025-12-26",  # both downloaded again...
        f"ingest:{T1}:2025-12-19", f"normalize:{T1}:2025-12-19", f"aggregate:{T1}:2025-12-19",
        f"rolling:{T1}:2025-12-26", f"snapshot:{T1}:2025-12-26", f"report:{T1}:2025-12-26",
    ])  # ...only the revised one re-runs, and the window and report that read it
    line = (built / SOURCES / "week_2025-12-19.psv").read_text().split("\n")[18]
    assert line.split("|")[5] == "5"


def test_a_page_that_always_fails_leaves_no_file_and_the_other_weeks_go_on(tmp_path: Path, server):
    server.configure(**config(faults=[{"method": "POST", "week": "2025-12-15", "offset": 5000, "status": 503,
                                     "retry_after": "1", "body": "{\"message\": \"upstream down\"}"}]))
    root = project(tmp_path / "p")
    result = doit(root, server.url, "backfill", f"tier={T1}", "weeks_back=2", "as_of=2025-12-26")
    found = metrics(result.stdout)
    assert result.returncode == 0 and found["weeks_processed"] == "1"
    assert "2025-12-19: " in found["errors"] and "503" in found["errors"]
    assert not (root / SOURCES / "week_2025-12-19.psv").exists()
    assert [p.name for p in (root / SOURCES).iterdir()] == ["week_2025-12-26.psv"]  # no temporary file
    tries = [r for r in server.data_requests() if r.body["offset"] == 5000 and
             r.body["dateRangeFilters"][0]["startDate"] == "2025-12-15"]
    assert len(tries) == 5


@pytest.mark.parametrize("rows, message", [
    pytest.param({"rows": []}, "FINRA returned no rows", id="zero-rows"),
    pytest.param({"count": 3, "patch": {"1": {"weekStartDate": "2025-12-08"}}}, "weekStartDate", id="row-of-another-week"),
])
def test_untrustworthy_answers_fail_the_week_without_a_file(tmp_path: Path, server, rows, message):
    server.configure(weeks={"T1": {MONDAY["2025-12-26"]: rows}})
    root = project(tmp_path / "p")
    result = doit(root, server.url, "backfill", f"tier={T1}", "weeks_back=1", "as_of=2025-12-26")
    assert result.returncode != 0
    assert message in metrics(result.stdout)["errors"]
    assert not (root / SOURCES).exists() or list((root / SOURCES).iterdir()) == []


def test_unreachable_finra_fails_each_week_in_one_line_within_seconds(tmp_path: Path):
    root = project(tmp_path / "p")
    started = time.monotonic()
    result = doit(root, "http://127.0.0.1:9", "backfill", f"tier={T1}", "weeks_back=2", "as_of=2025-12-26")
    elapsed = time.monotonic() - started
    found = metrics(result.stdout)
    assert result.returncode != 0 and found["status"] == "FAILED"
    errors = found["errors"].split("; ")
    prefix = "Cannot reach FINRA at http://127.0.0.1:9: "
    assert [e[:12] for e in errors[:2]] == ["2025-12-19: ", "2025-12-26: "]
    assert all(e[12:].startswith(prefix) and len(e) > 12 + len(prefix) for e in errors[:2]), errors
    assert "Traceback" not in result.stdout + result.stderr
    assert elapsed < 30  # generous: the point is no retry storm (see the unit test for the client's own speed)


def test_as_of_latest_without_finra_uses_the_newest_local_file_and_says_why(built: Path):
    result = doit(built, "http://127.0.0.1:9", "backfill", f"tier={T1}", "weeks_back=2", "build_dir=other")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("Range: as_of=latest: 2025-12-26 is the newest week file in data/otc/nms_tier_1 "
            "(FINRA not asked (Cannot reach FINRA at http://127.0.0.1:9: ") in result.stdout


def test_fetch_auto_never_writes_into_a_source_dir_the_user_named(tmp_path: Path, server):
    root = project(tmp_path / "p")
    result = doit(root, server.url, "backfill", f"tier={T1}", "weeks_back=1", "as_of=2025-12-26", "source_dir=mine")
    assert "Source file not found: mine/week_2025-12-26.psv" in metrics(result.stdout)["errors"]
    assert not (root / "mine").exists() and server.requests == []
    result = doit(root, server.url, "backfill", f"tier={T1}", "weeks_back=1", "as_of=2025-12-26", "source_dir=mine",
                  "fetch=true")
    assert result.returncode == 0 and (root / "mine/week_2025-12-26.psv").exists()


def test_fetch_false_never_fetches(tmp_path: Path, server):
    root = project(tmp_path / "p")
    result = doit(root, server.url, "backfill", f"tier={T1}", "weeks_back=1", "as_of=2025-12-26", "fetch=false")
    assert "Source file not found: data/otc/nms_tier_1/week_2025-12-26.psv" in metrics(result.stdout)["errors"]
    assert server.requests == []


def test_a_killed_fetch_leaves_no_partial_file_and_the_next_run_completes(tmp_path: Path, server):
    root = project(tmp_path / "p")
    target = SOURCES / "week_2025-12-19.psv"
    env = {**os.environ, "OTC_FINRA_URL": server.url, "OTC_FAILPOINT": f"write:{target}=kill"}
    killed = subprocess.run([sys.executable, "-m", "doit", "backfill", f"tier={T1}", "weeks_back=1",
                             "as_of=2025-12-19"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode != 0
    # killed while writing it: every page had arrived, the file was not yet in place
    assert not (root / target).exists()
    assert [p.name.startswith(".week_2025-12-19.psv.") for p in (root / SOURCES).iterdir()] == [True]
    result = doit(root, server.url, "backfill", f"tier={T1}", "weeks_back=1", "as_of=2025-12-19")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in (root / SOURCES).iterdir()] == ["week_2025-12-19.psv"]  # the leftover swept


def test_doit_clean_never_deletes_fetched_data(built: Path, server):
    result = doit(built, server.url, "clean", f"tier={T1}", "weeks_back=3", "refetch=true")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (built / SOURCES).iterdir()) == ["week_2025-12-19.psv", "week_2025-12-26.psv"]
    assert not (built / "build/otc_raw" / T1 / "2025-12-19.parquet").exists()  # outputs are cleaned
