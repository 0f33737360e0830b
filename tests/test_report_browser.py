"""The fixture week's report and the index opened from disk in real headless Chromium: no error,
no request off the disk, every chart drawn, and a hostile source line shown as text, never run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from otc.report import IndexEntry, build_report_model, render_index, render_report, write_assets

from browser import DRAWN_MARKS, chromium, chromium_missing, open_page, read_week
from doit_helpers import doit, make_project

pytestmark = [
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
    pytest.mark.slow,  # a backfill, a browser and plotly.js parsed cold: seconds
]

WEEK = dt.date(2025, 12, 26)
HOSTILE = "<script>alert(1)</script>"
#: A 13th line for the week: six fields, so it parses, and normalize rejects its symbol.
HOSTILE_LINE = f"2025-12-26|NMS_TIER_1|{HOSTILE}|NITE|100|1"
SCREENSHOT_COPY = Path("/tmp/report-screenshot.png")
FIXTURE_BACKFILL = ["tier=NMS_TIER_1", "start_week=2025-11-21", "end_week=2025-12-26", "source_dir=data/fixtures/otc"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """The six fixture weeks (the last with the hostile line) built by `doit backfill`, and the
    last week's report and the index written where the report stage puts them."""
    root = make_project(tmp_path_factory.mktemp("report_browser"))
    with open(root / "data" / "fixtures" / "otc" / f"week_{WEEK}.psv", "a", encoding="utf-8") as week_file:
        week_file.write(HOSTILE_LINE + "\n")
    result = doit(root, "backfill", *FIXTURE_BACKFILL)
    assert result.returncode == 0, result.stdout + result.stderr
    build = root / "build"
    model = build_report_model(read_week(build, "NMS_TIER_1", WEEK))
    report_dir = build / "report"
    page = report_dir / "NMS_TIER_1" / f"{WEEK}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_report(model, ".."), encoding="utf-8")
    index = report_dir / "index.html"
    index.write_text(render_index([IndexEntry.for_report(model, f"NMS_TIER_1/{WEEK}.html")]), encoding="utf-8")
    write_assets(report_dir)
    return {"page": page, "index": index, "screenshot": build / "report-screenshot.png"}


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


@pytest.fixture(scope="module")
def report(browser, pages):
    """The report page, opened once, after its charts were drawn; a full-page screenshot taken."""
    page, visit = open_page(browser, pages["page"])
    # a locator waits from Playwright's own world: the page's CSP forbids the eval of wait_for_function
    for chart in ("#chart-venue-share", "#chart-history"):
        page.locator(f"{chart} svg.main-svg").first.wait_for(state="attached", timeout=5000)
    page.screenshot(path=str(pages["screenshot"]), full_page=True)
    shutil.copyfile(pages["screenshot"], SCREENSHOT_COPY)
    yield page, visit
    page.close()


def test_report_logs_no_error(report):
    page, visit = report
    assert (visit.console_errors, visit.page_errors) == ([], [])


def test_report_asks_for_nothing_but_its_files(report, pages):
    _, visit = report
    assert visit.off_disk_requests == []
    assert visit.requests == [pages["page"].resolve().as_uri(), (pages["page"].parent.parent / "plotly.min.js").resolve().as_uri()]


def test_every_chart_draws_its_marks(report):
    page, _ = report
    assert page.evaluate(DRAWN_MARKS) == [
        {"id": "chart-venue-share", "bars": 4, "lines": 0, "points": 0},  # CDEL, VIRT, NITE, UBSS
        {"id": "chart-history", "bars": 0, "lines": 5, "points": 30},  # 5 symbols over 6 weeks
    ]


#: The chart buttons that work on the page alone (plotly.js 4 adds "Share chart..." by default,
#: which uploads the chart to Plotly's cloud).
LOCAL_BUTTONS = {"Download plot as a PNG", "Zoom", "Pan", "Zoom in", "Zoom out", "Autoscale", "Reset axes"}


def test_chart_buttons_stay_on_the_page(report):
    page, _ = report
    titles = set(page.evaluate("Array.from(document.querySelectorAll('.modebar-btn')).map(b => b.dataset.title)"))
    assert "Download plot as a PNG" in titles and titles <= LOCAL_BUTTONS
    assert page.locator(".chart a[href]").count() == 0  # no Plotly logo link


def test_hostile_line_shows_as_text_and_runs_nothing(report):
    page, visit = report
    assert visit.dialogs == []  # alert(1) never opened
    raw_lines = page.locator("code.raw").all_inner_texts()
    assert raw_lines == [HOSTILE_LINE]
    assert page.locator("code.raw").is_visible()
    assert page.evaluate("Array.from(document.scripts).filter(s => s.textContent.includes('alert')).length") == 0
    assert page.evaluate("document.scripts.length") == 3  # chart data, plotly.min.js, the drawing script


def test_report_charts_fit_the_paper_when_printed(report):
    page, visit = report
    widths = "Array.from(document.querySelectorAll('.chart')).map(c => c.querySelector('svg.main-svg').getBoundingClientRect().width)"
    screen = page.evaluate(widths)
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.evaluate(widths) == [680, 680]
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert page.evaluate(widths) == screen and min(screen) > 1000  # the 1280 px window's width again
    assert visit.page_errors == []


def test_index_links_to_the_report(browser, pages):
    page, visit = open_page(browser, pages["index"])
    try:
        assert (visit.console_errors, visit.page_errors, visit.requests) == ([], [], [pages["index"].resolve().as_uri()])
        # where the browser resolves the link (not followed: the report's load is timed above)
        link = page.get_by_role("link", name="2025-12-26")
        assert link.evaluate("a => a.href") == pages["page"].resolve().as_uri()
        assert pages["page"].exists()
    finally:
        page.close()
