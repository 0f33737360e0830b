"""The `otc` command: `otc sql`, `otc status` and `otc report` over a build directory's outputs.

Each command parses its arguments, calls the library and prints; the errors users can cause
(`OtcError`) become one `ERROR:` line on stderr and exit status 1 (2 for a query DuckDB refused).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from otc.console_table import cell_text, format_table
from otc.errors import NoOutputs, OtcError, QueryError
from otc.layout import Layout, Stage
from otc.manifest import completed
from otc.params import DEFAULT_BUILD_DIR
from otc.query import TABLE_DESCRIPTIONS, backfill_command, connect, no_outputs_hint, run_query
from otc.store import read_json
from otc.tiers import Tier
from otc.weeks import parse_week_ending

BUILD_DIR_HELP = f"the build directory a backfill wrote (its build_dir=; default: {DEFAULT_BUILD_DIR})"
WIDE_HELP = "show every column in full, however wide (default: fit the terminal)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        print(args.run(args), end="")
    except QueryError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    except OtcError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otc", description="Query and inspect what `doit backfill` built.",
        epilog="`otc <command> --help` describes each command. `python -m otc` is the same program.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    sql = commands.add_parser(
        "sql", help="run a SQL query over the output tables (DuckDB)",
        description="Run a SQL query (DuckDB's dialect) over the output tables and the run records "
                    "of a build directory.",
        epilog=_tables_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sql.add_argument("query", help="the query, or - to read it from standard input")
    sql.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help=BUILD_DIR_HELP)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table",
                     help="table: aligned text, fitted to the terminal (the default); csv: a header "
                          "and one line per row; json: one array of objects, dates as ISO strings, "
                          "decimals as exact strings")
    sql.add_argument("--wide", action="store_true", help=f"with --format table: {WIDE_HELP}")
    sql.set_defaults(run=_sql)

    status = commands.add_parser(
        "status", help="each tier-week's stage, counts, source and fetch; the latest batch",
        description="Each tier-week's stage reached, row counts, whether its source file changed since "
                    "it was ingested, and when it was fetched from FINRA; then each tier's latest batch.")
    status.add_argument("--tier", type=_tier, help="only this tier (default: every tier)")
    status.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help=BUILD_DIR_HELP)
    status.add_argument("--wide", action="store_true", help=WIDE_HELP)
    status.set_defaults(run=_status)

    report = commands.add_parser(
        "report", help="print the path of a weekly HTML report",
        description="Print the path of a weekly research report, <build-dir>/report/<TIER>/<week>.html: "
                    "the newest week's by default. <build-dir>/report/index.html lists them all.")
    report.add_argument("--tier", type=_tier, help="only this tier's reports (default: every tier)")
    report.add_argument("--week", type=_week, help="the week ending (a Friday, YYYY-MM-DD); default: the newest")
    report.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help=BUILD_DIR_HELP)
    report.set_defaults(run=_report)
    return parser


def _tables_epilog() -> str:
    width = max(len(name) for name in TABLE_DESCRIPTIONS)
    lines = [f"  {name:<{width}}  {text}" for name, text in TABLE_DESCRIPTIONS.items()]
    return ("tables:\n" + "\n".join(lines) + "\n\n"
            "The first nine also have week_ending, tier, execution_id and batch_id; one with no files\n"
            "yet is empty, with its columns. A range-end week is the range's last (every week with\n"
            "windows=all). docs/tables.md lists every column.")


def _tier(text: str) -> Tier:
    try:
        return Tier.parse(text)
    except OtcError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _week(text: str) -> dt.date:
    try:
        return parse_week_ending(text, "week")
    except OtcError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def terminal_width() -> int | None:
    """The width to fit tables to: COLUMNS when set, else the terminal's; None (nothing cut)
    when the output goes to a file or a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


# --- otc sql ------------------------------------------------------------------------------


def _sql(args: argparse.Namespace) -> str:
    query = sys.stdin.read() if args.query == "-" else args.query
    result = run_query(connect(Layout(Path(args.build_dir))), query)
    if args.format == "csv":
        return format_csv(result)
    if args.format == "json":
        return format_json(result)
    return format_table(result, None if args.wide else terminal_width())


def format_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in zip(*(column.to_pylist() for column in table.columns)):
        writer.writerow(["" if v is None else _csv_text(v) for v in row])
    return out.getvalue()


def format_json(table: pa.Table) -> str:
    """One JSON array of objects; dates ISO strings, decimals exact as strings."""
    return json.dumps(table.to_pylist(), default=_json_value) + "\n"


def _csv_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


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


# --- otc status ---------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> str:
    layout = Layout(Path(args.build_dir))
    if not layout.manifest_file.exists():
        raise NoOutputs(no_outputs_hint(layout.build_dir))
    entries = [e for e in read_json(layout.manifest_file) if args.tier is None or e["tier"] == args.tier.value]
    rows = [{
        "tier": e["tier"], "week_ending": e["week_ending"], "stage": e["stage"],
        "raw": e["row_count_raw"], "normalized": e["row_count_normalized"], "rejected": e["row_count_rejected"],
        "source": source_state(e.get("source_locator"), e.get("source_sha256")),
        "fetched (UTC)": fetched_at(layout, Tier(e["tier"]), dt.date.fromisoformat(e["week_ending"])),
        "last_batch": e["batch_id"],
    } for e in entries]
    width = None if args.wide else terminal_width()
    text = format_table(pa.Table.from_pylist(rows), width) if rows else "(no tier-weeks)\n"
    return text + "".join(_batch_lines(batch) for batch in latest_batches(layout, args.tier))


def fetched_at(layout: Layout, tier: Tier, week: dt.date) -> str:
    """When the week's source file was fetched from FINRA (`YYYY-MM-DD HH:MM`, UTC), or ``
    when it was not, or its fetch failed."""
    path = layout.record_file(Stage.FETCH, tier, week)
    if not path.exists():
        return ""
    record = read_json(path)
    when = record.get("fetch", {}).get("fetched_at") if completed(record) else None
    if not when:
        return ""
    return dt.datetime.fromisoformat(when).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def latest_batches(layout: Layout, tier: Tier | None) -> list[dict[str, Any]]:
    """Each tier's latest batch file (the one given, or every tier's), in tier order."""
    newest: dict[str, dict[str, Any]] = {}
    for batch in sorted((read_json(p) for p in layout.batches_dir.glob("*.json")), key=lambda b: b["started_at"]):
        newest[batch["params"]["tier"]] = batch
    return [newest[t.value] for t in Tier if t.value in newest and (tier is None or t is tier)]


def _batch_lines(batch: dict[str, Any]) -> str:
    m = batch["metrics"]
    return (f"\nLatest batch: {batch['batch_id']}\n"
            f"  status: {batch['status']}, weeks processed {m['weeks_processed']}/{m['weeks_requested']}, "
            f"stages run {m['stages_run']}, up to date {m['stages_up_to_date']}\n"
            + "".join(f"  error: {cell_text(e)}\n" for e in m["errors"]))


def source_state(locator: str | None, sha256: str | None) -> str:
    """`unchanged`, `changed` (content differs from what was ingested) or `missing`."""
    if not locator:
        return "unknown"
    try:
        digest = hashlib.sha256(Path(locator).read_bytes()).hexdigest()
    except OSError:
        return "missing"
    return "unchanged" if digest == sha256 else "changed"


# --- otc report ---------------------------------------------------------------------------


def _report(args: argparse.Namespace) -> str:
    return f"{report_page(Layout(Path(args.build_dir)), args.tier, args.week)}\n"


def report_page(layout: Layout, tier: Tier | None, week: dt.date | None) -> Path:
    """The report page of `week` (default: the newest week that has one) for `tier` (default:
    the first tier, in tier order, that has one)."""
    tiers = [tier] if tier is not None else list(Tier)
    pages = sorted(((w, tiers.index(t), t) for t in tiers for w in report_weeks(layout, t)),
                   key=lambda p: (-p[0].toordinal(), p[1]))
    which = f"{tier.value} " if tier is not None else ""
    if not pages:
        example = backfill_command(layout.build_dir, tier.value if tier is not None else "NMS_TIER_1")
        raise NoOutputs(f"No {which}reports in {layout.report_dir}/ yet: run a backfill first, e.g. {example}")
    if week is None:
        newest, _, page_tier = pages[0]
        return layout.report_file(page_tier, newest)
    for page_week, _, page_tier in pages:
        if page_week == week:
            return layout.report_file(page_tier, page_week)
    newest, _, newest_tier = pages[0]
    raise NoOutputs(f"No {which}report for the week ending {week} in {layout.report_dir}/; "
                    f"the newest is {newest_tier.value} {newest}")


def report_weeks(layout: Layout, tier: Tier) -> list[dt.date]:
    """The weeks of `tier` that have a report page."""
    found = []
    for path in (layout.report_dir / tier.value).glob("*.html"):
        try:
            week = dt.date.fromisoformat(path.stem)
        except ValueError:
            continue
        if layout.report_file(tier, week) == path:
            found.append(week)
    return sorted(found)
