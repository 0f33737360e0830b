"""Where one week's time goes, step by step, in one process (imports and doit left out).

    python bench/breakdown.py WEEK_FILE [--tier NMS_TIER_1] [--repeats 5]

WEEK_FILE is a week file (`bench/generate.py` writes them); its Friday comes from its name
(`week_<Friday>.psv`). Each step runs --repeats times on the same input and the best time
is printed, with the step's share of the stages' total. The writes are timed one table at
a time, on one thread (the pipeline writes a stage's tables on two), so they add up to the
CPU time writing costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import pyarrow as pa  # noqa: E402  (after otc's allocator choice: see otc/__init__.py)

from otc import aggregate, ingest, normalize, sources  # noqa: E402
from otc.context import StageContext  # noqa: E402
from otc.store import write_table  # noqa: E402
from otc.tiers import Tier  # noqa: E402


def best_of(repeats: int, step: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        clock = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - clock)
    return best, result


def breakdown(path: Path, tier: Tier, repeats: int) -> list[tuple[str, float]]:
    friday = dt.date.fromisoformat(re.search(r"\d{4}-\d{2}-\d{2}", path.name).group(0))
    ctx = StageContext(tier, friday, "exec_breakdown", "batch_breakdown", dt.datetime.now(dt.timezone.utc))
    steps: list[tuple[str, float]] = []

    def timed(name: str, step: Callable[[], Any]) -> Any:
        seconds, result = best_of(repeats, step)
        steps.append((name, seconds))
        return result

    source = timed("read the file (and its sha256)", lambda: sources.read_source(path))
    raw = timed("ingest (the whole stage)", lambda: ingest.ingest(source, ctx)).raw
    lines = timed("  ingest, of which: split lines into fields", lambda: sources.split_lines(source.data))
    fmt, has_header = sources.detect_format(lines, source.locator)
    _, fields = sources.split_fields(lines.slice(1 if has_header else 0), fmt)
    symbol, mpid = fields["symbol"], fields["mpid"]
    shares, trades = ingest.parse_int64(fields["total_shares"]), ingest.parse_int64(fields["total_trades"])
    timed("  ingest, of which: record_hash (sha256 a row)",
          lambda: ingest.record_hashes(ctx, symbol, mpid, shares, trades))
    normalized = timed("normalize", lambda: normalize.normalize(raw, ctx, source.locator))
    venue_volume = normalized.venue_volume.select(aggregate.INPUT_COLUMNS)
    aggregated = timed("aggregate", lambda: aggregate.aggregate(venue_volume, ctx))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        for name, table in (
            ("otc_raw", raw), ("otc_venue_volume", normalized.venue_volume),
            ("otc_normalization_map", normalized.normalization_map),
            ("otc_symbol_summary", aggregated.symbol_summary),
        ):
            timed(f"write {name} ({table.num_rows:,} rows)",
                  lambda t=table, n=name: write_table(t, out / f"{n}.parquet"))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("week_file", type=Path)
    parser.add_argument("--tier", default="NMS_TIER_1", choices=[t.value for t in Tier])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    steps = breakdown(args.week_file, Tier(args.tier), args.repeats)
    total = sum(seconds for name, seconds in steps if not name.startswith(" "))
    print(f"{args.week_file.name}: best of {args.repeats}, pyarrow {pa.__version__}")
    for name, seconds in steps:
        print(f"  {name:<48} {seconds * 1000:8.1f} ms  {seconds / total:6.1%}")
    print(f"  {'total (the rows not indented)':<48} {total * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
