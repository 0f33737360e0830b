"""The `otc` command: `otc sql` and `otc status` over a build directory's outputs."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from otc.errors import NoOutputs, OtcError, QueryError
from otc.layout import Layout
from otc.params import DEFAULT_BUILD_DIR
from otc.query import connect, run_query
from otc.store import read_json
from otc.tiers import Tier


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "sql":
            print(_sql(args), end="")
        else:
            print(_status(args))
    except QueryError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    except (NoOutputs, OtcError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otc", description="Query and inspect otc-backfill outputs.")
    commands = parser.add_subparsers(dest="command", required=True)
    sql = commands.add_parser("sql", help="run a SQL query over the output tables (DuckDB)",
                              description="Run a SQL query over the output tables (DuckDB).")
    sql.add_argument("query", help="the query, or - to read it from standard input")
    sql.add_argument("--build-dir", default=DEFAULT_BUILD_DIR)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    status = commands.add_parser("status", help="per tier-week stage, counts and source state",
                                 description="Per tier-week stage, counts and source state; then the latest batch.")
    status.add_argument("--tier", type=_tier)
    status.add_argument("--build-dir", default=DEFAULT_BUILD_DIR)
    return parser


def _tier(text: str) -> Tier:
    try:
        return Tier.parse(text)
    except OtcError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sql(args: argparse.Namespace) -> str:
    query = sys.stdin.read() if args.query == "-" else args.query
    result = run_query(connect(Layout(Path(args.build_dir))), query)
    return {"table": format_table, "csv": format_csv, "json": format_json}[args.format](result)


def format_table(table: pa.Table) -> str:
    """Aligned text columns with a header rule; NULL for nulls."""
    header = table.column_names
    rows = [[_text(v) for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def format_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else _text(v) for v in row.values()])
    return out.getvalue()


def format_json(table: pa.Table) -> str:
    """One JSON array of objects; dates ISO strings, decimals exact as strings."""
    return json.dumps(table.to_pylist(), default=_json_value) + "\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _status(args: argparse.Namespace) -> str:
    layout = Layout(Path(args.build_dir))
    if not layout.manifest_file.exists():
        raise NoOutputs(f"No outputs in {layout.build_dir}/ yet: run a backfill first, "
                        "e.g. doit backfill tier=NMS_TIER_1 weeks_back=6")
    entries = [e for e in read_json(layout.manifest_file) if args.tier is None or e["tier"] == args.tier.value]
    rows = [{
        "tier": e["tier"], "week_ending": e["week_ending"], "stage": e["stage"],
        "raw": e["row_count_raw"], "normalized": e["row_count_normalized"], "rejected": e["row_count_rejected"],
        "last_batch": e["batch_id"], "source": source_state(e.get("source_locator"), e.get("source_sha256")),
    } for e in entries]
    text = format_table(pa.Table.from_pylist(rows)) if rows else "(no tier-weeks)\n"
    batches = sorted((read_json(p) for p in layout.batches_dir.glob("*.json")),
                     key=lambda b: b["started_at"])
    if args.tier is not None:
        batches = [b for b in batches if b["params"]["tier"] == args.tier.value]
    if batches:
        latest = batches[-1]
        m = latest["metrics"]
        text += (f"\nLatest batch: {latest['batch_id']}\n"
                 f"  status: {latest['status']}, weeks processed {m['weeks_processed']}/{m['weeks_requested']}, "
                 f"stages run {m['stages_run']}, up to date {m['stages_up_to_date']}\n")
        text += "".join(f"  error: {e}\n" for e in m["errors"])
    return text.rstrip("\n")


def source_state(locator: str | None, sha256: str | None) -> str:
    """`unchanged`, `changed` (content differs from what was ingested) or `missing`."""
    if not locator:
        return "unknown"
    try:
        digest = hashlib.sha256(Path(locator).read_bytes()).hexdigest()
    except OSError:
        return "missing"
    return "unchanged" if digest == sha256 else "changed"
