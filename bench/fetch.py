"""How much the FINRA client adds to the time FINRA's side takes to send a week.

    python bench/fetch.py [--weeks 5] [--rows-per-week 50000] [--repeats 5] [--no-record-total] [--out F.json]

Starts the stand-in server (`tests/finra_stub.py`) as its own process on 127.0.0.1 with
`--weeks` weeks of `--rows-per-week` realistic rows (FINRA's fields, ATS names and MPIDs),
then, per repeat, downloads every week with `otc.finra.FinraClient` and writes each file
atomically (temporary file, fsync, rename) into a temporary directory, one week after the
other as the fetch tasks do. One untimed week first warms both sides up.

Reported per repeat, then the median:

- rows per second fetched (download only) and fetched and written;
- the server's time to send the bytes: per request, from its arrival (headers read) until the
  last byte of the answer is written, summed over requests (`server_sum`), and the same
  intervals merged, i.e. the wall time the server was busy (`server_busy`; lower than the sum
  when pages are fetched side by side);
- the client's total time (`client`) against both, and the client's own work (decoding JSON,
  checking rows, building the file) as a share of its total.

Target: client <= 1.25 x server_sum (the client adds at most 25 % over the time the server
takes to send the bytes). `--no-record-total` makes the server omit `Record-Total`, so the
client pages one request at a time: the same target then shows what side-by-side paging buys.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from otc.finra import FinraClient, user_agent
from otc.tiers import Tier

PROJECT = Path(__file__).resolve().parents[1]
STUB = PROJECT / "tests" / "finra_stub.py"
LAST_WEEK = dt.date(2025, 12, 26)
TARGET = 1.25


def write_atomically(data: bytes, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def server_times(log_file: Path, since: int) -> tuple[float, float, float, int]:
    """Summed and merged (busy) seconds of the data requests logged after line `since`, the server's
    CPU seconds meanwhile, and how many requests there were."""
    entries = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    before, entries = entries[since - 1]["cpu"], [e for e in entries[since:] if e["method"] == "POST"]
    spans = sorted((e["arrived"], e["finished"]) for e in entries)
    total = sum(end - start for start, end in spans)
    busy, reach = 0.0, float("-inf")
    for start, end in spans:
        busy += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total, busy, max(e["cpu"] for e in entries) - before, len(spans)


def log_length(log_file: Path) -> int:
    return len(log_file.read_text(encoding="utf-8").splitlines()) if log_file.exists() else 0


def run(weeks: int, rows_per_week: int, repeats: int, record_total: bool, in_flight: int = 4) -> dict:
    fridays = [LAST_WEEK - dt.timedelta(weeks=i) for i in range(weeks, -1, -1)]  # the first: warm-up only
    with tempfile.TemporaryDirectory(prefix="otc-bench-fetch-") as work:
        work_dir = Path(work)
        log_file = work_dir / "requests.jsonl"
        config = {
            "weeks": {"T1": {str(f - dt.timedelta(days=4)): {"count": rows_per_week, "seed": 42} for f in fridays}},
            "record_total": record_total,
            "log_file": str(log_file),
        }
        (work_dir / "stub.json").write_text(json.dumps(config), encoding="utf-8")
        server = subprocess.Popen([sys.executable, str(STUB), "--config", str(work_dir / "stub.json")],
                                  stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip()
            client = FinraClient(url, user_agent=user_agent(), max_in_flight=in_flight)
            out_dir = work_dir / "weeks"
            out_dir.mkdir()
            client.download_week(Tier.NMS_TIER_1, fridays[0])  # warm-up, untimed
            results = [_repeat(client, fridays[1:], out_dir, log_file) for _ in range(repeats)]
        finally:
            server.terminate()
            server.wait(10)
    return {"weeks": weeks, "rows_per_week": rows_per_week, "record_total": record_total, "in_flight": in_flight,
            "repeats": results,
            "median": {key: statistics.median(r[key] for r in results) for key in results[0]}}


def _repeat(client: FinraClient, fridays: list[dt.date], out_dir: Path, log_file: Path) -> dict:
    since = log_length(log_file)
    rows = download = written = work = 0.0
    cpu, main_cpu = time.process_time(), time.thread_time()
    for friday in fridays:
        started = time.perf_counter()
        week = client.download_week(Tier.NMS_TIER_1, friday)
        fetched = time.perf_counter()
        write_atomically(week.content, out_dir / f"week_{friday}.psv")
        written += time.perf_counter() - started
        download += fetched - started
        rows += week.rows
        work += week.work_seconds
    cpu, main_cpu = time.process_time() - cpu, time.thread_time() - main_cpu
    time.sleep(0.2)  # the server logs a request just after its last byte
    server_sum, server_busy, server_cpu, requests = server_times(log_file, since)
    return {
        "rows": rows, "requests": requests, "client_s": download, "written_s": written,
        "rows_per_s_fetched": rows / download, "rows_per_s_written": rows / written,
        "server_sum_s": server_sum, "server_busy_s": server_busy,
        "client_over_server_sum": download / server_sum, "client_over_server_busy": download / server_busy,
        "client_work_share": work / download, "client_cpu_share": cpu / written,
        "client_cpu_us_per_row": cpu / rows * 1e6, "client_main_cpu_us_per_row": main_cpu / rows * 1e6,
        "server_cpu_us_per_row": server_cpu / rows * 1e6,
    }


def report(result: dict) -> str:
    m = result["median"]
    verdict = "met" if m["client_over_server_sum"] <= TARGET else "MISSED"
    lines = [
        f"{result['weeks']} weeks x {result['rows_per_week']:,} rows, Record-Total "
        f"{'sent (pages side by side)' if result['record_total'] else 'omitted (pages one by one)'}, "
        f"client max_in_flight {result['in_flight']}, "
        f"median of {len(result['repeats'])}; nproc {os.cpu_count()}, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "",
        "| measure | median | per repeat |",
        "|---|---|---|",
    ]
    rows = [
        ("rows/s fetched", "rows_per_s_fetched", "{:,.0f}"),
        ("rows/s fetched and written", "rows_per_s_written", "{:,.0f}"),
        ("client, download (s)", "client_s", "{:.3f}"),
        ("server, sending, summed (s)", "server_sum_s", "{:.3f}"),
        ("server, busy (s)", "server_busy_s", "{:.3f}"),
        ("client / server summed", "client_over_server_sum", "{:.2f}"),
        ("client / server busy", "client_over_server_busy", "{:.2f}"),
        ("client's own work (decode, check, build) / client", "client_work_share", "{:.0%}"),
        ("client process CPU / client wall (incl. write)", "client_cpu_share", "{:.0%}"),
        ("client CPU per row, all threads (µs)", "client_cpu_us_per_row", "{:.1f}"),
        ("client CPU per row, main thread (µs)", "client_main_cpu_us_per_row", "{:.1f}"),
        ("server CPU per row (µs)", "server_cpu_us_per_row", "{:.1f}"),
    ]
    for label, key, fmt in rows:
        lines.append(f"| {label} | {fmt.format(m[key])} | {', '.join(fmt.format(r[key]) for r in result['repeats'])} |")
    lines += ["", f"Target: client <= {TARGET} x server summed: {m['client_over_server_sum']:.2f} ({verdict})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=5)
    parser.add_argument("--rows-per-week", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-record-total", action="store_true", help="server omits Record-Total: pages one by one")
    parser.add_argument("--in-flight", type=int, default=4, help="the client's max_in_flight (default 4)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.weeks, args.rows_per_week, args.repeats, not args.no_record_total, args.in_flight)
    print(report(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
