"""Helpers for the report tests: a built tier-week read back as ReportInputs, and a page opened
from disk in real headless Chromium (Debian's), driven by Playwright, with everything it logged
and asked for recorded."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from otc.report import ReportInputs

CHROMIUM = Path("/usr/bin/chromium")
#: Playwright adds --headless itself; these keep Chromium from calling home on start.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


# --- a built week ------------------------------------------------------------------------------


def read_week(build: Path, tier: str, week: dt.date) -> ReportInputs:
    """The report inputs of one tier-week, read from the files a backfill wrote: what the
    report stage reads (all of a table's stage files for the week, summaries up to it)."""
    def week_files(table: str) -> pa.Table:
        files = sorted((build / table / tier).glob(f"{week.isoformat()}*.parquet"))
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")

    snapshot = week_files("otc_research_snapshot")
    rolling_files = list((build / "otc_symbol_rolling_6w" / tier).glob(f"{week.isoformat()}.parquet"))
    summaries = sorted((build / "otc_symbol_summary" / tier).glob("*.parquet"))
    history = pa.concat_tables([
        pq.read_table(f, columns=["week_ending", "symbol", "total_volume"])
        for f in summaries if dt.date.fromisoformat(f.name[:10]) <= week
    ])
    (entry,) = [e for e in json.loads((build / "manifest.json").read_text())
                if e["tier"] == tier and e["week_ending"] == week.isoformat()]
    return ReportInputs(
        tier=tier,
        week_ending=week,
        batch_id=snapshot["batch_id"][0].as_py(),
        built_at=snapshot["created_at"][0].as_py(),
        counts={
            "raw_lines": entry["row_count_raw"],
            "normalized": entry["row_count_normalized"],
            "rejected": entry["row_count_rejected"],
            "skipped": entry["row_count_parsed"] - entry["row_count_inserted"],
        },
        snapshot=snapshot,
        venue_share=week_files("otc_venue_share"),
        checks=week_files("otc_quality_checks"),
        rejects=week_files("otc_rejects"),
        rolling=pq.read_table(rolling_files[0]) if rolling_files else None,
        history=history,
    )


# --- a page in Chromium --------------------------------------------------------------------------


@dataclasses.dataclass
class Visit:
    """What a page did while it was open."""

    requests: list[str] = dataclasses.field(default_factory=list)
    console: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (type, text)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    dialogs: list[str] = dataclasses.field(default_factory=list)

    @property
    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]

    @property
    def off_disk_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(("file://", "data:"))]


@contextlib.contextmanager
def chromium() -> Iterator:
    """A fresh Chromium profile (its own user-data-dir), closed and removed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="otc-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS, viewport=VIEWPORT,
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_page(context, path: Path) -> tuple[object, Visit]:
    """Open `path` (file://) in a new tab, recording every request, console message, page error
    and dialog; a request that leaves the disk is aborted as well as recorded."""
    visit = Visit()
    page = context.new_page()
    page.on("request", lambda request: visit.requests.append(request.url))
    page.on("console", lambda message: visit.console.append((message.type, message.text)))
    page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    page.on("dialog", lambda dialog: (visit.dialogs.append(dialog.message), dialog.dismiss()))
    page.route(lambda url: not url.startswith(("file:", "data:")), lambda route: route.abort())
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, visit


#: Per chart box, Plotly's drawn marks that have a size on screen: bars, line paths (a flat line
#: has no height) and markers.
DRAWN_MARKS = """
() => Array.from(document.querySelectorAll('.chart > .plot')).map(box => {
  const sized = (selector, flat) => Array.from(box.querySelectorAll(selector)).filter(mark => {
    const r = mark.getBoundingClientRect();
    return r.width > 0 && (flat || r.height > 0) && (mark.getAttribute('d') || '').length > 1;
  }).length;
  return {
    id: box.id,
    bars: sized('.barlayer .point path', false),
    lines: sized('.scatterlayer path.js-line', true),
    points: sized('.scatterlayer path.point', false),
  };
})
"""
