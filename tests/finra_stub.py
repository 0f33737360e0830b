"""A stand-in for FINRA's Query API, on 127.0.0.1 only, for tests and benchmarks.

In a test:

    with FinraStub({"weeks": {"T1": {"2025-12-22": {"count": 12001}}}}) as stub:
        FinraClient(stub.url, ...)          # or the `finra_stub` fixture, then stub.configure(...)

As its own process (for `doit` run in a subprocess):

    python tests/finra_stub.py --config cfg.json     # first stdout line: its URL

The config file is re-read whenever it changes (write it atomically: temporary file, then
rename), so a test can change one number of one row between two runs.

Config (JSON; every key optional):

    {
      "weeks": {"T1": {"2025-12-22": {"count": 12001, "seed": 7,
                                      "patch": {"17": {"totalWeeklyShareQuantity": 5}}},
                       "2025-12-15": {"rows": [{...}, ...]}}},
      "partitions": [["2025-12-22", "T1"], ["T2", "2025-12-15"]],  # default: one per week
      "tier_first": false,        # default partitions: [tier id, Monday] instead of [Monday, tier id]
      "record_total": true,       # send Record-Total; false: never; a number: send that instead
      "empty_page": 204,          # how a page past the last row is answered: 204, or 200 with []
      "faults": [{"method": "POST", "path": DATA_PATH, "tier": "T1", "week": "2025-12-22",
                  "offset": 5000, "on": [1, 2],
                  "status": 500, "retry_after": "1", "body": "...", "headers": {},
                  "drop": false, "delay": 0.0}],
      "log_file": "requests.jsonl"
    }

Rows are generated from (tier, Monday, count, seed), realistic in shape (FINRA's fields, ATS
venue names and MPIDs); `rows` gives them by hand instead, as-is (a row may lack fields);
`patch` then changes single rows by index. A fault matches requests on every key it gives
(method, path, tier id, week's Monday, offset); `on` picks which of its matching requests it
hits (1-based; absent: all). It then waits `delay` seconds, and drops the connection without a
word (`drop`), or answers `status` with `body`, `retry_after` and `headers`; with neither it
answers normally after the delay. The first fault in the list that hits wins.

Every request is logged (method, path, headers, parsed body, arrival and end times, status,
bytes sent, requests in flight on arrival, the process's CPU seconds at its end) in
`requests`, and, when `log_file` is set, as a JSON line there.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA_PATH = "/data/group/otcMarket/name/weeklySummary"
PARTITIONS_PATH = "/partitions/group/otcMarket/name/weeklySummary"
SUMMARY_TYPE = "ATS_W_SMBL_FIRM"
TIER_DESCRIPTIONS = {"T1": "NMS Tier 1", "T2": "NMS Tier 2", "OTCE": "OTC"}

# ATS venues as FINRA names them: (MPID, marketParticipantName, firmCRDNumber)
_VENUES = [
    ("UBSA", "UBS ATS", 7654), ("CROS", "CROSSFINDER", 7059), ("JPMX", "JPM-X", 79), ("MSPL", "MS POOL (ATS-4)", 8209),
    ("DBAX", "SUPERX ATS", 2525), ("LEVL", "LEVEL ATS", 104484), ("IATS", "IBKR ATS", 36418),
    ("SGMT", "SIGMA X2", 361), ("INCR", "INTELLIGENT CROSS LLC", 283208), ("BIDS", "BIDS TRADING L.P.", 130066),
    ("MLIX", "INSTINCT X", 7691), ("XSTM", "CODA MARKETS ATS", 28092), ("EBXL", "LIGHTPOOL", 104474),
    ("PURE", "PURESTREAM", 151419), ("ATDA", "AQUA", 164183), ("VFMI", "VIRTU MATCHIT ATS", 149823),
    ("KCGM", "KCG MATCHIT", 149823), ("TWSS", "TRADEWEB ATS", 124097), ("CBLC", "CITI LIQUIFI", 7059),
    ("NYFX", "MILLENNIUM", 47987), ("GTXS", "GTS ATS", 149823), ("BLKX", "BLOCKCROSS", 46932),
    ("HRTX", "HRT ATS", 157376), ("CXCX", "CBOE BIDS", 130066), ("OTCX", "OTC LINK ECN", 104631),
    ("MEMX", "MEMBERS EXCHANGE ATS", 305366), ("LQNT", "LIQUIDNET H2O ATS", 103987), ("POSI", "POSIT", 8209),
    ("ICBX", "INSTINET CBX (US)", 7897), ("TRFX", "TRUMID ATS", 166569), ("DLTA", "DELTA-X", 22222),
    ("NXTA", "NEXT ATS LLC", 44444),
]
_WORDS = ["Apex", "Blue", "Cedar", "Delta", "Echo", "Falcon", "Granite", "Harbor", "Iron", "Juniper", "Keystone",
          "Lumen", "Meridian", "Northern", "Orion", "Pioneer", "Quantum", "River", "Summit", "Titan", "Union",
          "Vertex", "Willow", "Xenon", "Yellowstone", "Zenith", "Atlantic", "Pacific", "Global", "American"]
_SUFFIXES = ["Inc. Common Stock", "Corp. Class A Common Stock", "Holdings, Inc.", "Ltd. ADS", "Therapeutics Inc.",
             "Bancorp", "Energy Partners LP", "Technologies Inc. Common Stock", "Group Inc", "Trust"]


def generate_rows(tier_id: str, monday: str, count: int, seed: int = 0) -> list[dict]:
    """`count` rows of one tier-week, the same for the same arguments; each (symbol, MPID) once."""
    return [dict(row) for row in _generated(tier_id, monday, count, seed)]


@functools.lru_cache(maxsize=16)
def _generated(tier_id: str, monday: str, count: int, seed: int) -> tuple[dict, ...]:
    """generate_rows, kept for reuse by the tests that serve the same week (callers copy the rows)."""
    rng = random.Random(f"{seed}|{tier_id}|{monday}")
    per_symbol = 8
    symbols: list[str] = []
    seen: set[str] = set()
    while len(symbols) * per_symbol < count:
        symbol = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.choice((1, 2, 3, 3, 4, 4, 4, 5))))
        if symbol not in seen:
            seen.add(symbol)
            symbols.append(symbol)
    names = {s: f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_SUFFIXES)}" for s in symbols}
    day = dt.date.fromisoformat(monday)
    updated, published = str(day + dt.timedelta(days=10)), str(day + dt.timedelta(days=16))
    rows = []
    for i in range(count):
        symbol = symbols[i // per_symbol]
        mpid, venue, crd = _VENUES[(i // per_symbol * 5 + i % per_symbol) % len(_VENUES)]
        shares = int(rng.paretovariate(1.2) * 1000)
        rows.append({
            "tierIdentifier": tier_id, "tierDescription": TIER_DESCRIPTIONS.get(tier_id, tier_id),
            "issueSymbolIdentifier": symbol, "issueName": names[symbol], "firmCRDNumber": crd, "MPID": mpid,
            "marketParticipantName": venue, "productTypeCode": "EQUITY", "summaryStartDate": monday,
            "summaryTypeCode": SUMMARY_TYPE, "totalWeeklyShareQuantity": shares,
            "totalWeeklyTradeCount": max(1, shares // rng.randint(80, 400)), "lastUpdateDate": updated,
            "initialPublishedDate": published, "lastReportedDate": published, "weekStartDate": monday,
            "totalNotionalSum": None,
        })
    return tuple(rows)


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the text when it is not JSON, or None
    arrived: float  # time.time()
    finished: float
    status: int | None  # None: dropped without an answer
    bytes_sent: int
    in_flight: int  # requests being served on arrival, this one included
    error: str | None = None  # the answer could not be written (the client had gone)
    cpu: float = 0.0  # the server process's CPU seconds when the answer was written (time.process_time)


class _Settings:
    """A config, parsed once, with its generated rows cached and per-fault hit counters."""

    def __init__(self, config: dict):
        self.config = config
        self.record_total = config.get("record_total", True)
        self.empty_page = int(config.get("empty_page", 204))
        self.faults = list(config.get("faults", []))
        self.hits = [0] * len(self.faults)
        self.lock = threading.Lock()
        self.weeks: dict[tuple[str, str], list[dict]] = {}
        for tier_id, weeks in config.get("weeks", {}).items():
            for monday, spec in weeks.items():
                self.weeks[(tier_id, monday)] = self._rows(tier_id, monday, spec)
        if config.get("partitions") is not None:
            self.partitions = config["partitions"]
        else:
            tier_first = config.get("tier_first", False)
            self.partitions = [[t, m] if tier_first else [m, t] for (t, m) in self.weeks]

    @staticmethod
    def _rows(tier_id: str, monday: str, spec: dict) -> list[dict]:
        if "rows" in spec:
            rows = [dict(row) if isinstance(row, dict) else row for row in spec["rows"]]
        else:
            rows = generate_rows(tier_id, monday, int(spec.get("count", 0)), int(spec.get("seed", 0)))
        for index, change in spec.get("patch", {}).items():
            rows[int(index)].update(change)
        return rows

    def fault(self, method: str, path: str, query: dict) -> dict | None:
        """The first fault that hits this request; every matching fault counts it."""
        hit = None
        with self.lock:
            for i, fault in enumerate(self.faults):
                if not _matches(fault, method, path, query):
                    continue
                self.hits[i] += 1
                if hit is None and ("on" not in fault or self.hits[i] in fault["on"]):
                    hit = fault
        return hit


def _matches(fault: dict, method: str, path: str, query: dict) -> bool:
    if fault.get("method", method).upper() != method or fault.get("path", path) != path:
        return False
    return all(fault[key] == query.get(key) for key in ("tier", "week", "offset") if key in fault)


class FinraStub:
    """The stand-in server, on 127.0.0.1 and a free port, serving from a daemon thread."""

    def __init__(self, config: dict | None = None, *, config_file: Path | None = None):
        self._config_file = config_file
        self._file_stamp: tuple | None = None
        self._settings = _Settings(config or {})
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self.max_in_flight = 0
        self._log: list[LoggedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        if config_file is not None:
            self.settings()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, once none is being served (a client may have its answer before
        the server has logged it)."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
            return list(self._log)

    def data_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == DATA_PATH]

    def start(self) -> "FinraStub":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="finra-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> "FinraStub":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def configure(self, **changes: Any) -> None:
        """Replace top-level config keys (weeks, faults, ...); fault counters start again."""
        self._settings = _Settings({**self._settings.config, **changes})

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self.max_in_flight = 0

    def rows(self, tier_id: str, monday: str) -> list[dict]:
        """The rows the stub serves for a tier-week (patches applied)."""
        return self.settings().weeks.get((tier_id, monday), [])

    def settings(self) -> _Settings:
        """The current settings, re-read from the config file when it changed."""
        if self._config_file is not None:
            stat = self._config_file.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            with self._lock:
                if stamp != self._file_stamp:
                    try:
                        self._settings = _Settings(json.loads(self._config_file.read_text(encoding="utf-8")))
                        self._file_stamp = stamp
                    except ValueError:  # caught half-written: keep the last config, read it again next time
                        pass
        return self._settings

    def _enter(self) -> int:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self._in_flight

    def _leave(self, entry: LoggedRequest, log_file: str | None) -> None:
        with self._idle:
            self._in_flight -= 1
            self._log.append(entry)
            if log_file:
                with open(log_file, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(dataclasses.asdict(entry)) + "\n")
            self._idle.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 expects of FINRA
    # TCP_NODELAY, as any production server sets: with Nagle, each answer's last segment waits
    # for the client's delayed ACK (up to 40 ms a request, more than the rest of the request)
    disable_nagle_algorithm = True
    server_version = "FinraStub/1"

    def log_message(self, format: str, *args: Any) -> None:  # no stderr noise
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        stub: FinraStub = self.server.stub  # type: ignore[attr-defined]
        arrived = time.time()
        in_flight = stub._enter()
        status: int | None = None
        sent = 0
        body: Any = None
        error = None
        settings = stub.settings()
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            path = self.path.split("?")[0]
            query = _query(body) if method == "POST" else {}
            fault = settings.fault(method, path, query)
            if fault and fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault and fault.get("drop"):
                self.close_connection = True
                return
            if fault and "status" in fault:
                headers = dict(fault.get("headers", {}))
                if "retry_after" in fault:
                    headers["Retry-After"] = str(fault["retry_after"])
                text = fault.get("body", json.dumps({"statusCode": fault["status"], "message": "stub fault"}))
                status, sent = fault["status"], self._answer(fault["status"], text.encode(), headers)
            elif method == "GET" and path == PARTITIONS_PATH:
                payload = {"availablePartitions": [{"partitions": p} for p in settings.partitions]}
                status, sent = 200, self._answer(200, json.dumps(payload).encode())
            elif method == "POST" and path == DATA_PATH:
                status, sent = self._data(settings, query)
            else:
                status, sent = 404, self._answer(404, json.dumps({"message": f"No route {method} {path}"}).encode())
        except OSError as exc:  # the client gave up waiting (a read timeout) and closed the connection
            error = repr(exc)
            self.close_connection = True
        finally:
            stub._leave(LoggedRequest(method, self.path, dict(self.headers.items()), body, arrived, time.time(),
                                      status, sent, in_flight, error, time.process_time()),
                        settings.config.get("log_file"))

    def _data(self, settings: _Settings, query: dict) -> tuple[int, int]:
        if "error" in query:
            return 400, self._answer(400, json.dumps({"statusCode": 400, "message": query["error"]}).encode())
        rows = settings.weeks.get((query["tier"], query["week"]), [])
        page = rows[query["offset"]:query["offset"] + query["limit"]]
        headers = {}
        if settings.record_total is True:
            headers["Record-Total"] = str(len(rows))
        elif settings.record_total is not False:
            headers["Record-Total"] = str(settings.record_total)
        if not page and settings.empty_page == 204:
            return 204, self._answer(204, b"", headers)
        # compact, as a real API sends it; serialising is part of the server's time, as at FINRA
        return 200, self._answer(200, json.dumps(page, separators=(",", ":")).encode(), headers)

    def _answer(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if status != 204:
            self.wfile.write(data)
        return len(data)


def _query(body: Any) -> dict:
    """tier, week (Monday), offset and limit of a data request, or `error` saying what is wrong."""
    try:
        filters = {f["fieldName"]: f["fieldValue"] for f in body["compareFilters"]}
        (dates,) = body["dateRangeFilters"]
        if dates["fieldName"] != "weekStartDate" or dates["startDate"] != dates["endDate"]:
            return {"error": "expected one weekStartDate with startDate = endDate"}
        return {"tier": filters["tierIdentifier"], "summary": filters.get("summaryTypeCode"),
                "week": dates["startDate"], "offset": int(body.get("offset", 0)), "limit": int(body["limit"])}
    except (KeyError, TypeError, ValueError) as exc:
        return {"error": f"malformed request body: {exc!r}"}


def _fixture():
    """The `finra_stub` pytest fixture: a running stub with an empty config."""
    import pytest

    @pytest.fixture
    def finra_stub():
        with FinraStub() as stub:
            yield stub

    return finra_stub


try:
    finra_stub = _fixture()
except ImportError:  # run as a process without pytest installed
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stand-in for FINRA's Query API on 127.0.0.1.")
    parser.add_argument("--config", type=Path, required=True, help="JSON config, re-read when it changes")
    args = parser.parse_args(argv)
    stub = FinraStub(config_file=args.config.resolve())
    print(stub.url, flush=True)
    try:
        stub._server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        stub._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
