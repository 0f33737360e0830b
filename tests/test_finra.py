"""FINRA Query API client (docs/fetching.md) against the stand-in server: paging, faults, checks, file."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from finra_stub import DATA_PATH, FinraStub, finra_stub, generate_rows  # noqa: F401 (finra_stub: fixture)
from otc import finra
from otc.context import StageContext
from otc.errors import FinraBadData, FinraRefused, FinraUnreachable, ParameterError
from otc.finra import (
    DEFAULT_BASE_URL, PAGE_LIMIT, TIER_IDENTIFIERS, FinraClient, load_published_weeks, not_published_message,
    resolve_base_url, user_agent,
)
from otc.finra_file import HEADER, WeekQuery, _row_line, page_text
from otc.ingest import ingest
from otc.sources import read_source
from otc.tiers import Tier

WEEK = dt.date(2025, 12, 26)
MONDAY = "2025-12-22"
T1 = Tier.NMS_TIER_1
LABEL = "NMS_TIER_1 week ending 2025-12-26"
BAD = f"FINRA sent bad data for {LABEL}: "
VERSION = importlib.metadata.version("otc-backfill")


def client(stub: FinraStub, **tunables) -> FinraClient:
    """A client with test-sized backoff and timeouts."""
    options = {"backoff_factor": 0.01, "connect_timeout": 1.0, "read_timeout": 2.0} | tunables
    return FinraClient(stub.url, user_agent=user_agent(), **options)


def week(count: int, **spec) -> dict:
    return {"T1": {MONDAY: {"count": count, **spec}}}


def by_hand(*rows: dict) -> dict:
    return {"T1": {MONDAY: {"rows": list(rows)}}}


def row(**fields) -> dict:
    """A complete, right row of the test week; `fields` change it."""
    base = {
        "tierIdentifier": "T1", "tierDescription": "NMS Tier 1", "issueSymbolIdentifier": "AAPL",
        "issueName": "Apple Inc. Common Stock", "MPID": "UBSA", "marketParticipantName": "UBS ATS",
        "summaryTypeCode": "ATS_W_SMBL_FIRM", "totalWeeklyShareQuantity": 1000, "totalWeeklyTradeCount": 10,
        "lastUpdateDate": "2026-01-01", "weekStartDate": MONDAY,
    }
    return base | fields


def expected_file(rows: list[dict]) -> bytes:
    """FINRA's file for well-behaved rows, written the plain way."""
    lines = [HEADER] + ["|".join(str(r[f]) for f in HEADER.split("|")) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def offsets(stub: FinraStub) -> list[int]:
    return [r.body["offset"] for r in stub.data_requests()]


# --- paging -------------------------------------------------------------------------------------


@pytest.mark.parametrize("record_total", [pytest.param(True, id="side-by-side"),
                                          pytest.param(False, id="no-record-total-one-by-one")])
def test_week_over_three_pages_is_one_file_in_order(finra_stub, record_total):
    finra_stub.configure(weeks=week(12_001), record_total=record_total)

    download = client(finra_stub).download_week(T1, WEEK)

    rows = finra_stub.rows("T1", MONDAY)
    assert download.content == expected_file(rows)
    assert (download.pages, download.rows, download.retries) == (3, 12_001, 0)
    assert sorted(offsets(finra_stub)) == [0, 5000, 10_000]
    assert download.bytes == len(download.content)
    assert download.url == finra_stub.url + "/data/group/otcMarket/name/weeklySummary"
    body = {
        "compareFilters": [
            {"compareType": "EQUAL", "fieldName": "tierIdentifier", "fieldValue": "T1"},
            {"compareType": "EQUAL", "fieldName": "summaryTypeCode", "fieldValue": "ATS_W_SMBL_FIRM"},
        ],
        "dateRangeFilters": [{"fieldName": "weekStartDate", "startDate": MONDAY, "endDate": MONDAY}],
        "limit": 5000,
        "offset": 0,
    }
    assert download.request_body == body
    assert finra_stub.data_requests()[0].body == body
    assert json.dumps(download.request_body) == json.dumps(body)  # the same key order too


def test_requests_carry_json_headers_and_our_user_agent(finra_stub):
    finra_stub.configure(weeks=week(3))

    c = client(finra_stub)
    c.download_week(T1, WEEK)
    c.published_weeks()

    post, get = finra_stub.requests
    assert user_agent() == f"otc-backfill/{VERSION}"
    assert (post.method, post.headers["User-Agent"], post.headers["Content-Type"], post.headers["Accept"]) == (
        "POST", f"otc-backfill/{VERSION}", "application/json", "application/json")
    assert (get.method, get.headers["User-Agent"], get.headers["Accept"]) == (
        "GET", f"otc-backfill/{VERSION}", "application/json")


@pytest.mark.parametrize(("record_total", "empty_page"), [
    pytest.param(False, 204, id="204-after-full-page"),
    pytest.param(True, 204, id="204-after-full-page-with-record-total"),
    pytest.param(False, 200, id="empty-array-after-full-page"),
])
def test_week_of_exactly_one_full_page_asks_once_more(finra_stub, record_total, empty_page):
    finra_stub.configure(weeks=week(5000), record_total=record_total, empty_page=empty_page)

    download = client(finra_stub).download_week(T1, WEEK)

    assert (download.pages, download.rows) == (2, 5000)
    assert offsets(finra_stub) == [0, 5000]
    assert [r.status for r in finra_stub.data_requests()] == [200, empty_page]
    assert download.content.count(b"\n") == 5001


def test_never_more_than_four_requests_in_flight(finra_stub):
    # six pages of one week (five side by side) and two other weeks at once, each answer slowed down
    weeks = {"T1": {MONDAY: {"count": 25_001}}, "T2": {MONDAY: {"count": 3}}, "OTCE": {MONDAY: {"count": 3}}}
    finra_stub.configure(weeks=weeks, faults=[{"method": "POST", "delay": 0.1}])
    c = client(finra_stub)
    results = {}

    def fetch(tier):
        results[tier] = c.download_week(tier, WEEK).rows

    threads = [threading.Thread(target=fetch, args=(tier,)) for tier in Tier]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {Tier.NMS_TIER_1: 25_001, Tier.NMS_TIER_2: 3, Tier.OTC: 3}
    assert finra_stub.max_in_flight == 4
    assert max(r.in_flight for r in finra_stub.requests) == 4
    assert len(finra_stub.data_requests()) == 6 + 1 + 1


# --- faults -------------------------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(finra_stub):
    finra_stub.configure(weeks=week(3), faults=[{"offset": 0, "on": [1], "status": 429, "retry_after": "1"}])

    started = time.perf_counter()
    download = client(finra_stub).download_week(T1, WEEK)
    elapsed = time.perf_counter() - started

    assert (download.rows, download.retries) == (3, 1)
    assert [r.status for r in finra_stub.data_requests()] == [429, 200]
    first, second = finra_stub.data_requests()
    assert 1.0 <= second.arrived - first.finished < 1.5
    assert elapsed < 1.5


def test_retry_after_beyond_the_cap_is_cut_to_it(finra_stub, monkeypatch):
    monkeypatch.setattr(finra, "RETRY_AFTER_CAP", 0.2)  # the live path reads the cap: 3600 s becomes 0.2 s
    finra_stub.configure(weeks=week(3), faults=[{"offset": 0, "on": [1], "status": 503, "retry_after": "3600"}])

    started = time.perf_counter()
    assert client(finra_stub).download_week(T1, WEEK).rows == 3
    assert 0.2 <= time.perf_counter() - started < 1.0


@pytest.mark.parametrize(("header", "seconds"), [
    pytest.param("5", 5.0, id="seconds"),
    pytest.param("60", 60.0, id="at-cap"),
    pytest.param("61", 60.0, id="just-over-cap"),
    pytest.param("86400", 60.0, id="a-day"),
    pytest.param("Fri, 31 Dec 2100 23:59:59 GMT", 60.0, id="far-http-date"),
    pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0.0, id="past-http-date"),
    pytest.param("soon", 0.0, id="malformed-means-backoff"),
])
def test_retry_after_is_capped_at_60_seconds(header, seconds):
    policy = finra.retry_policy(tries=5, connect_tries=2, backoff_factor=0.5)
    assert policy.parse_retry_after(header) == seconds


def test_retry_policy_is_five_tries_for_post_and_one_retry_for_connections():
    policy = finra.retry_policy(tries=5, connect_tries=2, backoff_factor=0.5)
    assert (policy.total, policy.connect, policy.read, policy.status, policy.other) == (4, 1, 4, 4, 0)
    assert {"GET", "POST"} <= set(policy.allowed_methods)
    assert {429, 500, 502, 503, 504} <= set(policy.status_forcelist)
    assert (policy.raise_on_status, policy.respect_retry_after_header) == (False, True)


def test_server_error_twice_then_success(finra_stub):
    finra_stub.configure(weeks=week(7), faults=[{"offset": 0, "on": [1, 2], "status": 500}])

    download = client(finra_stub).download_week(T1, WEEK)

    assert (download.rows, download.retries) == (7, 2)
    assert [r.status for r in finra_stub.data_requests()] == [500, 500, 200]


def test_page_that_always_fails_gives_up_after_five_tries(finra_stub):
    finra_stub.configure(weeks=week(5001), faults=[{"offset": 5000, "status": 503,
                                                    "body": '{"statusCode": 503, "message": "Try later"}'}])

    with pytest.raises(FinraRefused) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value) == (
        "FINRA answered HTTP 503 Service Unavailable after 5 tries to POST /data/group/otcMarket/name/weeklySummary "
        f"({LABEL}, offset 5000): Try later")
    assert offsets(finra_stub) == [0, 5000, 5000, 5000, 5000, 5000]


@pytest.mark.parametrize(("status", "body", "message"), [
    pytest.param(400, '{"statusCode": 400, "message": "Invalid fieldName: tierIdentifer"}',
                 "HTTP 400 Bad Request", id="400-json-message"),
    pytest.param(403, "<html><body>Forbidden</body></html>", "HTTP 403 Forbidden", id="403-html"),
    pytest.param(404, "", "HTTP 404 Not Found", id="404-no-body"),
    pytest.param(302, "", "HTTP 302 Found", id="redirect-not-followed"),
])
def test_other_4xx_fail_at_once_with_status_and_message(finra_stub, status, body, message):
    finra_stub.configure(weeks=week(3), faults=[{"status": status, "body": body}])

    with pytest.raises(FinraRefused) as caught:
        client(finra_stub).download_week(T1, WEEK)

    said = {400: "Invalid fieldName: tierIdentifer", 403: "<html><body>Forbidden</body></html>",
            404: "(no message)", 302: "(no message)"}[status]
    assert str(caught.value) == (f"FINRA answered {message} to POST /data/group/otcMarket/name/weeklySummary "
                                 f"({LABEL}, offset 0): {said}")
    assert len(finra_stub.requests) == 1


def test_long_error_message_is_cut_to_its_start_on_one_line(finra_stub):
    finra_stub.configure(faults=[{"status": 400, "body": json.dumps({"message": "bad\nfilter " + "x" * 500})}])

    with pytest.raises(FinraRefused) as caught:
        client(finra_stub).download_week(T1, WEEK)

    said = str(caught.value).split("offset 0): ")[1]
    assert said == ("bad filter " + "x" * 500)[:200] + "..."


@pytest.mark.parametrize("fault", [
    pytest.param({"drop": True}, id="dropped"),
    pytest.param({"delay": 0.3}, id="read-timeout"),
])
def test_dropped_connection_or_read_timeout_is_retried(finra_stub, fault):
    finra_stub.configure(weeks=week(3), faults=[{"offset": 0, "on": [1], **fault}])

    download = client(finra_stub, read_timeout=0.1).download_week(T1, WEEK)

    assert (download.rows, download.retries) == (3, 1)
    assert len(finra_stub.data_requests()) == 2


def test_connection_dropped_every_time_gives_up_after_five_tries(finra_stub):
    finra_stub.configure(weeks=week(3), faults=[{"drop": True}])

    with pytest.raises(FinraUnreachable) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value).startswith(
        f"Cannot reach FINRA at {finra_stub.url}: connection dropped before a full answer, 5 tries, "
        f"to POST /data/group/otcMarket/name/weeklySummary ({LABEL}, offset 0): ")
    assert len(finra_stub.requests) == 5


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_closed_port_is_unreachable_within_a_second_and_stays_so():
    port = closed_port()
    c = FinraClient(f"http://127.0.0.1:{port}", user_agent=user_agent())  # production timeouts and backoff

    started = time.perf_counter()
    with pytest.raises(FinraUnreachable) as caught:
        c.download_week(T1, WEEK)
    assert time.perf_counter() - started < 1.0
    assert str(caught.value) == f"Cannot reach FINRA at http://127.0.0.1:{port}: Connection refused (2 tries)"

    started = time.perf_counter()
    with pytest.raises(FinraUnreachable) as again:
        c.published_weeks()  # no new attempt: an offline run fails every week at once
    assert time.perf_counter() - started < 0.01
    assert str(again.value) == str(caught.value)


def test_tls_failure_is_unreachable_at_once(finra_stub):
    https = finra_stub.url.replace("http://", "https://")  # TLS spoken to a plain HTTP server
    c = FinraClient(https, user_agent=user_agent())

    started = time.perf_counter()
    with pytest.raises(FinraUnreachable) as caught:
        c.published_weeks()

    assert time.perf_counter() - started < 1.0
    assert str(caught.value).startswith(f"Cannot reach FINRA at {https}: TLS error: [SSL: WRONG_VERSION_NUMBER]")


def test_unknown_host_is_unreachable(monkeypatch):
    def no_dns(*args, **kwargs):  # the resolver fails as offline; no query leaves the machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    c = FinraClient("https://finra.invalid", user_agent=user_agent())

    with pytest.raises(FinraUnreachable) as caught:
        c.published_weeks()

    assert str(caught.value) == ("Cannot reach FINRA at https://finra.invalid: cannot resolve finra.invalid "
                                 "(Name or service not known; 2 tries)")


# --- trust nothing ------------------------------------------------------------------------------


@pytest.mark.parametrize(("patch", "detail"), [
    pytest.param({"weekStartDate": "2025-12-15"}, "row 3 has weekStartDate '2025-12-15', expected '2025-12-22'",
                 id="wrong-week"),
    pytest.param({"tierIdentifier": "T2"}, "row 3 has tierIdentifier 'T2', expected 'T1'", id="wrong-tier"),
    pytest.param({"summaryTypeCode": "OTC_W_SMBL"},
                 "row 3 has summaryTypeCode 'OTC_W_SMBL', expected 'ATS_W_SMBL_FIRM'", id="wrong-summary-type"),
    pytest.param({"weekStartDate": None}, "row 3 has weekStartDate None, expected '2025-12-22'", id="null-week"),
    pytest.param({"totalWeeklyShareQuantity": 12.5},
                 "row 3 has totalWeeklyShareQuantity 12.5, expected a whole number", id="fractional-shares"),
    pytest.param({"totalWeeklyTradeCount": "10"},
                 "row 3 has totalWeeklyTradeCount '10', expected a whole number", id="text-trades"),
    pytest.param({"totalWeeklyTradeCount": True},
                 "row 3 has totalWeeklyTradeCount True, expected a whole number", id="boolean-trades"),
])
def test_bad_row_fails_the_week_naming_the_first_one(finra_stub, patch, detail):
    later = {k: ("nonsense" if isinstance(v, str) else 0.5) for k, v in patch.items()}
    finra_stub.configure(weeks=week(10, patch={"3": patch, "7": later}))

    with pytest.raises(FinraBadData) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value) == BAD + detail


def test_bad_row_is_named_by_its_place_in_the_week_not_the_page(finra_stub):
    finra_stub.configure(weeks=week(5010, patch={"5003": {"tierIdentifier": "T2"}}))

    with pytest.raises(FinraBadData) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value) == BAD + "row 5003 has tierIdentifier 'T2', expected 'T1'"


@pytest.mark.parametrize(("rows", "detail"), [
    pytest.param([row(), {k: v for k, v in row().items() if k != "summaryTypeCode"}],
                 "row 1 has no summaryTypeCode (expected 'ATS_W_SMBL_FIRM')", id="missing-field"),
    pytest.param([row(), ["T1", "AAPL"]], 'row 1 is not an object: ["T1", "AAPL"]', id="row-not-object"),
])
def test_malformed_row_fails_the_week(finra_stub, rows, detail):
    finra_stub.configure(weeks=by_hand(*rows))

    with pytest.raises(FinraBadData) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value) == BAD + detail


@pytest.mark.parametrize(("config", "message"), [
    pytest.param({}, "204", id="204"),
    pytest.param({"empty_page": 200}, "empty-array", id="empty-array"),
    pytest.param({"weeks": {"T2": {MONDAY: {"count": 5}}}}, "other-tier-only", id="other-tier-only"),
])
def test_zero_rows_fail_the_week(finra_stub, config, message):
    finra_stub.configure(**config)

    with pytest.raises(FinraBadData) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value) == (f"FINRA returned no rows for {LABEL} (weekStartDate 2025-12-22, "
                                 "tierIdentifier T1, summaryTypeCode ATS_W_SMBL_FIRM)")


@pytest.mark.parametrize(("count", "record_total", "message"), [
    pytest.param(5001, 5000, f"FINRA sent 5001 rows for {LABEL}, but its Record-Total header says 5000",
                 id="one-row-too-many"),
    pytest.param(3, 7, f"FINRA sent 3 rows for {LABEL}, but its Record-Total header says 7", id="short"),
    pytest.param(5000, 17_000, f"FINRA sent 5000 rows for {LABEL}, but its Record-Total header says 17000",
                 id="pages-run-out"),
    pytest.param(3, "many", f"FINRA sent Record-Total 'many' for {LABEL} at offset 0, expected a row count",
                 id="not-a-number"),
])
def test_rows_must_add_up_to_record_total(finra_stub, count, record_total, message):
    finra_stub.configure(weeks=week(count), record_total=record_total)

    with pytest.raises(FinraBadData) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value) == message


@pytest.mark.parametrize(("body", "message"), [
    pytest.param("<html>Service maintenance</html>",
                 f"FINRA sent a body that is not JSON for {LABEL} (offset 0): <html>Service maintenance</html>",
                 id="html"),
    pytest.param('[{"a": 1}', f'FINRA sent a body that is not JSON for {LABEL} (offset 0): [{{"a": 1}}',
                 id="truncated-json"),
    pytest.param('{"message": "no data"}',
                 f'FINRA sent a JSON dict, not an array of rows, for {LABEL} (offset 0): {{"message": "no data"}}',
                 id="object"),
])
def test_body_that_is_no_json_array_is_bad_data(finra_stub, body, message):
    finra_stub.configure(faults=[{"status": 200, "body": body}])

    with pytest.raises(FinraBadData) as caught:
        client(finra_stub).download_week(T1, WEEK)

    assert str(caught.value) == message


# --- the file -----------------------------------------------------------------------------------


def test_file_text_for_separators_line_breaks_nulls_and_float_counts(finra_stub):
    finra_stub.configure(weeks=by_hand(
        row(issueName="Pipe | Inc", marketParticipantName="CR\rLF\nCRLF\r\nEND"),
        row(issueSymbolIdentifier="MSFT", issueName=None, marketParticipantName=None, lastUpdateDate=None,
            totalWeeklyShareQuantity=1234.0, totalWeeklyTradeCount=None),
        {k: v for k, v in row(issueSymbolIdentifier="IBM", MPID="JPMX").items() if k != "issueName"},
        row(issueSymbolIdentifier="NONE", issueName="None", totalWeeklyShareQuantity=10**15),
    ))

    download = client(finra_stub).download_week(T1, WEEK)

    assert download.content.decode() == (
        HEADER + "\n"
        "NMS Tier 1|AAPL|Pipe   Inc|CR LF CRLF  END|UBSA|1000|10|2026-01-01\n"
        "NMS Tier 1|MSFT|||UBSA|1234||\n"
        "NMS Tier 1|IBM||UBS ATS|JPMX|1000|10|2026-01-01\n"
        "NMS Tier 1|NONE|None|UBS ATS|UBSA|1000000000000000|10|2026-01-01\n"
    )


def test_fetched_file_round_trips_through_ingest_without_rejects(finra_stub, tmp_path):
    finra_stub.configure(weeks=by_hand(
        row(),
        row(issueSymbolIdentifier="MSFT", issueName="Micro | soft\nCorp", MPID="JPMX",
            marketParticipantName="JPM-X", totalWeeklyShareQuantity=500.0, totalWeeklyTradeCount=5),
        row(issueSymbolIdentifier="BRK.B", issueName=None, MPID="CROS", marketParticipantName="CROSSFINDER",
            lastUpdateDate=None),
        *generate_rows("T1", MONDAY, 20, seed=3),
    ))
    path = tmp_path / "week_2025-12-26.psv"
    path.write_bytes(client(finra_stub).download_week(T1, WEEK).content)

    now = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    result = ingest(read_source(path), StageContext(T1, WEEK, "exec", "batch", now))

    assert result.rejects.num_rows == 0
    assert (result.counts.raw, result.counts.inserted) == (23, 23)
    raw = result.raw.select(["symbol", "mpid", "total_shares", "total_trades", "issue_name",
                             "market_participant_name", "source_last_update_date"]).to_pylist()
    assert raw[:3] == [
        {"symbol": "AAPL", "mpid": "UBSA", "total_shares": 1000, "total_trades": 10,
         "issue_name": "Apple Inc. Common Stock", "market_participant_name": "UBS ATS",
         "source_last_update_date": dt.date(2026, 1, 1)},
        {"symbol": "MSFT", "mpid": "JPMX", "total_shares": 500, "total_trades": 5,
         "issue_name": "Micro   soft Corp", "market_participant_name": "JPM-X",
         "source_last_update_date": dt.date(2026, 1, 1)},
        {"symbol": "BRK.B", "mpid": "CROS", "total_shares": 1000, "total_trades": 10,
         "issue_name": "", "market_participant_name": "CROSSFINDER", "source_last_update_date": None},
    ]
    generated = generate_rows("T1", MONDAY, 20, seed=3)
    assert [(r["symbol"], r["mpid"], r["total_shares"]) for r in raw[3:]] == [
        (g["issueSymbolIdentifier"], g["MPID"], g["totalWeeklyShareQuantity"]) for g in generated]


def test_fast_page_text_matches_the_row_by_row_reference():
    query = WeekQuery(T1, WEEK)
    rows = generate_rows("T1", MONDAY, 300, seed=11)
    odd = {5: {"issueName": "A|B"}, 17: {"marketParticipantName": "x\r\ny"}, 40: {"lastUpdateDate": None},
           41: {"issueName": "None"}, 99: {"issueSymbolIdentifier": 7}, 120: {"issueName": 1.5}}
    for index, change in odd.items():
        rows[index] = rows[index] | change

    reference = "\n".join(_row_line(r, query, 1000 + i) for i, r in enumerate(rows))
    assert page_text(rows, query, 1000) == reference
    assert page_text(rows[:5] + rows[6:17], query, 0) == "\n".join(
        _row_line(r, query, i) for i, r in enumerate(rows[:5] + rows[6:17]))
    assert reference.splitlines()[5].split("|")[2] == "A B"


# --- published weeks ----------------------------------------------------------------------------


def test_published_weeks_tell_date_and_tier_apart_by_form(finra_stub):
    finra_stub.configure(partitions=[
        ["2025-12-22", "T1"], ["T1", "2025-12-15"], ["2025-12-08", "T2"], ["OTCE", "2025-12-01"],
        ["T9", "2025-12-22"], ["2025-12-29"], ["T2"], ["T1", "T2", "2025-11-24"], ["2025-11-17", "T2", "EXTRA"],
        ["T1", "2025-12-15"],
    ])

    assert client(finra_stub).published_weeks() == {
        Tier.NMS_TIER_1: (dt.date(2025, 12, 19), dt.date(2025, 12, 26)),
        Tier.NMS_TIER_2: (dt.date(2025, 11, 21), dt.date(2025, 12, 12)),
        Tier.OTC: (dt.date(2025, 12, 5),),
    }
    assert [r.path for r in finra_stub.requests] == ["/partitions/group/otcMarket/name/weeklySummary"]


@pytest.mark.parametrize("tier_first", [pytest.param(False, id="date-first"), pytest.param(True, id="tier-first")])
def test_published_weeks_from_the_weeks_served(finra_stub, tier_first):
    finra_stub.configure(weeks={"T1": {"2025-12-22": {"count": 1}, "2025-12-15": {"count": 1}},
                                "OTCE": {"2025-12-01": {"count": 1}}}, tier_first=tier_first)

    assert client(finra_stub).published_weeks() == {
        Tier.NMS_TIER_1: (dt.date(2025, 12, 19), dt.date(2025, 12, 26)), Tier.NMS_TIER_2: (),
        Tier.OTC: (dt.date(2025, 12, 5),)}


@pytest.mark.parametrize(("partitions", "message"), [
    pytest.param([["2025-12-23", "T1"]],
                 "FINRA's partitions list weekStartDate 2025-12-23 (Tuesday), expected a Monday", id="not-monday"),
    pytest.param([["T1", "2025-02-30"]], "FINRA's partitions list an impossible weekStartDate '2025-02-30'",
                 id="impossible-date"),
])
def test_published_weeks_with_a_bad_date_are_bad_data(finra_stub, partitions, message):
    finra_stub.configure(partitions=partitions)

    with pytest.raises(FinraBadData) as caught:
        client(finra_stub).published_weeks()

    assert str(caught.value) == message


def test_tier_identifiers():
    assert TIER_IDENTIFIERS == {Tier.NMS_TIER_1: "T1", Tier.NMS_TIER_2: "T2", Tier.OTC: "OTCE"}
    assert PAGE_LIMIT == 5000


@pytest.mark.parametrize(("tier", "week_ending", "message"), [
    pytest.param(Tier.NMS_TIER_1, dt.date(2026, 11, 27),
                 "Not yet published by FINRA: NMS_TIER_1 week ending 2026-11-27 (FINRA publishes NMS Tier 1 about "
                 "2 weeks after a week ends, NMS Tier 2 and OTC about 4 weeks; expected around 2026-12-11)", id="T1"),
    pytest.param(Tier.OTC, dt.date(2026, 11, 27),
                 "Not yet published by FINRA: OTC week ending 2026-11-27 (FINRA publishes NMS Tier 1 about "
                 "2 weeks after a week ends, NMS Tier 2 and OTC about 4 weeks; expected around 2026-12-25)", id="OTC"),
])
def test_not_published_message(tier, week_ending, message):
    assert not_published_message(tier, week_ending) == message


# --- base URL and the published-weeks cache -------------------------------------------------------


@pytest.mark.parametrize(("finra_url", "environ", "url"), [
    pytest.param(None, {}, DEFAULT_BASE_URL, id="default"),
    pytest.param("http://127.0.0.1:8080/", {}, "http://127.0.0.1:8080", id="finra-url-trailing-slash"),
    pytest.param("http://a.test", {"OTC_FINRA_URL": "http://b.test//"}, "http://b.test", id="env-wins"),
    pytest.param(None, {"OTC_FINRA_URL": "https://b.test/api"}, "https://b.test/api", id="env-only"),
    pytest.param("http://a.test", {"OTC_FINRA_URL": "  "}, "http://a.test", id="blank-env-ignored"),
    pytest.param("", {}, DEFAULT_BASE_URL, id="empty-finra-url"),
])
def test_resolve_base_url(finra_url, environ, url):
    assert resolve_base_url(finra_url, environ) == url


@pytest.mark.parametrize(("finra_url", "environ", "message"), [
    pytest.param("api.finra.org", {}, "finra_url must be an http:// or https:// URL, got 'api.finra.org'",
                 id="no-scheme"),
    pytest.param(None, {"OTC_FINRA_URL": "ftp://x"}, "OTC_FINRA_URL must be an http:// or https:// URL, got 'ftp://x'",
                 id="env-ftp"),
])
def test_resolve_base_url_rejects_what_is_no_http_url(finra_url, environ, message):
    with pytest.raises(ParameterError) as caught:
        resolve_base_url(finra_url, environ)
    assert str(caught.value) == message


NOW = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)
PUBLISHED = {Tier.NMS_TIER_1: (dt.date(2025, 12, 26),), Tier.NMS_TIER_2: (), Tier.OTC: ()}


def test_fresh_cache_is_reused_without_a_request(finra_stub, tmp_path):
    finra_stub.configure(weeks=week(1))
    cache = tmp_path / "finra_partitions.json"
    made = []

    def factory():
        made.append(1)
        return client(finra_stub)

    assert load_published_weeks(factory, cache, NOW, base_url=finra_stub.url) == PUBLISHED
    assert json.loads(cache.read_text()) == {"base_url": finra_stub.url, "fetched_at": "2026-01-02T15:00:00+00:00",
                                             "weeks": {"NMS_TIER_1": ["2025-12-26"], "NMS_TIER_2": [], "OTC": []}}
    later = NOW + dt.timedelta(minutes=14, seconds=59)
    assert load_published_weeks(factory, cache, later, base_url=finra_stub.url) == PUBLISHED
    assert load_published_weeks(client(finra_stub), cache, later) == PUBLISHED
    assert (len(made), len(finra_stub.requests)) == (1, 1)


@pytest.mark.parametrize("age", [pytest.param(dt.timedelta(minutes=15), id="15-minutes"),
                                 pytest.param(dt.timedelta(minutes=-1), id="from-the-future")])
def test_stale_cache_is_fetched_again(finra_stub, tmp_path, age):
    finra_stub.configure(weeks=week(1))
    cache = tmp_path / "finra_partitions.json"
    load_published_weeks(client(finra_stub), cache, NOW)
    finra_stub.configure(weeks={"T1": {MONDAY: {"count": 1}, "2025-12-29": {"count": 1}}})

    weeks = load_published_weeks(client(finra_stub), cache, NOW + age)

    assert weeks[Tier.NMS_TIER_1] == (dt.date(2025, 12, 26), dt.date(2026, 1, 2))
    assert len(finra_stub.requests) == 2
    assert json.loads(cache.read_text())["fetched_at"] == (NOW + age).isoformat()


def test_cache_from_another_base_url_is_not_used(finra_stub, tmp_path):
    finra_stub.configure(weeks=week(1))
    cache = tmp_path / "finra_partitions.json"
    cache.write_text(json.dumps({"base_url": "http://elsewhere.test", "fetched_at": NOW.isoformat(),
                                 "weeks": {"OTC": ["2025-12-26"]}}))

    assert load_published_weeks(client(finra_stub), cache, NOW) == PUBLISHED
    assert len(finra_stub.requests) == 1


@pytest.mark.parametrize("text", [
    pytest.param("{not json", id="not-json"),
    pytest.param("[]", id="a-list"),
    pytest.param('{"base_url": "URL", "fetched_at": "yesterday", "weeks": {}}', id="bad-time"),
    pytest.param('{"base_url": "URL", "fetched_at": "2026-01-02T15:00:00+00:00", "weeks": {"T7": []}}',
                 id="unknown-tier"),
    pytest.param('{"base_url": "URL", "fetched_at": "2026-01-02T15:00:00+00:00", "weeks": {"OTC": ["x"]}}',
                 id="bad-date"),
    pytest.param('{"base_url": "URL", "fetched_at": "2026-01-02T15:00:00+00:00"}', id="no-weeks"),
    pytest.param("\udcff", id="undecodable"),
])
def test_corrupt_cache_is_ignored(finra_stub, tmp_path, text):
    finra_stub.configure(weeks=week(1))
    cache = tmp_path / "finra_partitions.json"
    cache.write_bytes(text.replace("URL", finra_stub.url).encode("utf-8", "surrogateescape"))

    assert load_published_weeks(client(finra_stub), cache, NOW) == PUBLISHED
    assert len(finra_stub.requests) == 1
    assert json.loads(cache.read_text())["weeks"]["NMS_TIER_1"] == ["2025-12-26"]


def test_public_names():
    assert set(finra.__all__) == {
        "DEFAULT_BASE_URL", "PAGE_LIMIT", "SUMMARY_TYPE", "TIER_IDENTIFIERS", "FinraClient", "WeekDownload",
        "load_published_weeks", "not_published_message", "resolve_base_url", "user_agent",
    }


# --- the stub as its own process ------------------------------------------------------------------


def test_stub_runs_as_a_process_and_rereads_its_config(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "finra.json"
    log = tmp_path / "requests.jsonl"

    def write(patch):
        tmp = tmp_path / "finra.json.tmp"
        tmp.write_text(json.dumps({"weeks": week(3, seed=1, patch=patch), "log_file": str(log)}))
        tmp.replace(config)

    write({})
    stub_py = Path(__file__).with_name("finra_stub.py")
    process = subprocess.Popen([sys.executable, str(stub_py), "--config", str(config)], stdout=subprocess.PIPE,
                               text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        c = FinraClient(url, user_agent=user_agent(), backoff_factor=0.01)
        first = c.download_week(T1, WEEK)
        write({"1": {"totalWeeklyShareQuantity": 42}})
        second = c.download_week(T1, WEEK)
        deadline = time.monotonic() + 5  # the server logs a request just after its answer
        while len(log.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(5)

    changed = [(a, b) for a, b in zip(first.content.splitlines(), second.content.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][1].split(b"|")[5] == b"42"
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["method"], r["path"], r["body"]["offset"], r["status"]) for r in logged] == [
        ("POST", DATA_PATH, 0, 200), ("POST", DATA_PATH, 0, 200)]
