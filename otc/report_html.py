"""The research report as HTML: numbers formatted for people, Plotly figure specs, Jinja2 pages.

Pages are rendered with autoescaping on, so every text that comes from data is escaped; the
charts' data travels as JSON in a `<script type="application/json">` block with `<`, `>` and
`&` escaped, read by one fixed inline script that a Content-Security-Policy hash allows (no
other script can run, even if escaping ever failed). Jinja2 is imported on first render only,
so loading the dodo (which imports this module) stays quick.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Sequence

from otc.report_model import REJECT_EXAMPLES, TOP_SYMBOLS, History, ReportModel, VenueSlice
from otc.tiers import Tier

TEMPLATES = Path(__file__).parent / "templates"
PLOTLY_JS = "plotly.min.js"
DASH = "\u2014"  # shown for a value that does not exist (no rolling data, no top venue)
FONT_STACK = ('system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
              '"Noto Sans", "Liberation Sans", sans-serif')
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- numbers and dates for people ----------------------------------------------------------


def fmt_int(value: int | None) -> str:
    """1234567 -> '1,234,567'; None -> a dash."""
    if value is None:
        return DASH
    return f"{_exact(value):,}"


def fmt_decimal(value: Decimal | int | None, places: int = 2) -> str:
    """Rounded half away from zero to `places`, with thousands separators; never '-0.00'."""
    if value is None:
        return DASH
    rounded = _quantize(value, places)
    return f"{rounded:,.{places}f}"


def fmt_share(value: Decimal | int | None) -> str:
    """A share of a total: '43.62 %'."""
    return DASH if value is None else f"{fmt_decimal(value, 2)} %"


def fmt_change(value: Decimal | int | None) -> str:
    """A change with its sign: '+12.35 %', '-7.13 %', '0.00 %'."""
    if value is None:
        return DASH
    rounded = _quantize(value, 2)
    return f"{'+' if rounded > 0 else ''}{rounded:,.2f} %"


def fmt_date(day: dt.date) -> str:
    """'26 Dec 2025' (month names fixed, whatever the locale)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def fmt_time(moment: dt.datetime) -> str:
    """'2026-01-02 15:00:00 UTC' for an aware time; a naive one is shown as it is."""
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _exact(value: Any) -> Any:
    if isinstance(value, float):  # the tables hold exact values; a float here is a bug upstream
        raise TypeError(f"report numbers are ints or Decimals, got float {value!r}")
    return value


def _quantize(value: Decimal | int, places: int) -> Decimal:
    rounded = Decimal(_exact(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded.is_zero() else rounded


# --- JSON inside a page ----------------------------------------------------------------------

_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no `</script>` or `<!--` can close or
    comment it out, since `<`, `>` and `&` are written as \\u escapes (still the same JSON)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def plotly_text(text: str) -> str:
    """A data string for a Plotly label: Plotly reads labels as a little HTML (`<b>`, `<a>`), so
    `&`, `<`, `>` go in as entities, which it shows as the characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- charts: Plotly figure specs (data + layout) ---------------------------------------------

VENUE_COLOR = "#3b6ea8"
REST_COLOR = "#9aa4b1"
INK = "#1f2328"
GRID = "#e3e6ea"
#: Nothing that reaches a network: no Plotly logo link, no "Share chart..." button (plotly.js 4
#: shows one by default, which uploads the chart to Plotly's cloud), no MathJax.
CHART_CONFIG = {"displaylogo": False, "showSendToCloud": False, "responsive": True, "typesetMath": False,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "sendChartToCloud"]}


def _layout(**extra: Any) -> dict[str, Any]:
    return {
        "font": {"family": FONT_STACK, "size": 13, "color": INK},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "showlegend": False,
        **extra,
    }


def venue_share_figure(slices: Sequence[VenueSlice]) -> dict[str, Any] | None:
    """Horizontal bars, biggest venue on top, the rest in grey; None when there is no volume."""
    if not slices or sum(s.total_volume for s in slices) == 0:
        return None
    widest = max(float(s.share_pct) for s in slices)
    bar = {
        "type": "bar",
        "orientation": "h",
        "y": [plotly_text(s.label) for s in slices],
        "x": [float(s.share_pct) for s in slices],  # bar lengths only; labels are exact
        "text": [fmt_share(s.share_pct) for s in slices],
        "textposition": "outside",
        "cliponaxis": False,
        "customdata": [fmt_int(s.total_volume) for s in slices],
        "hovertemplate": "%{y}: %{customdata} shares, %{text}<extra></extra>",
        "marker": {"color": [REST_COLOR if s.rest else VENUE_COLOR for s in slices]},
    }
    return {"data": [bar], "layout": _layout(
        height=70 + 30 * len(slices),
        margin={"l": 10, "r": 20, "t": 10, "b": 50},
        bargap=0.3,
        xaxis={"title": {"text": "Share of the week's volume"}, "ticksuffix": " %", "range": [0, widest * 1.15],
               "gridcolor": GRID, "zeroline": False, "fixedrange": True},
        yaxis={"type": "category", "autorange": "reversed", "automargin": True, "fixedrange": True,
               "ticklabelstandoff": 6},
    )}


def history_figure(history: History) -> dict[str, Any] | None:
    """One line per symbol over the weeks; a missing week breaks the line. None without symbols."""
    if not history.series:
        return None
    weeks = [w.isoformat() for w in history.weeks]
    traces = [{
        "type": "scatter",
        "mode": "lines+markers",
        "name": plotly_text(series.symbol),
        "x": weeks,
        "y": list(series.volumes),
        "connectgaps": False,
        "marker": {"size": 6},
        "hovertemplate": "%{y:,} shares",
    } for series in history.series]
    ticks = _week_ticks(history.weeks)
    first, last = history.weeks[0], history.weeks[-1]
    return {"data": traces, "layout": _layout(
        height=460,
        margin={"l": 10, "r": 20, "t": 40, "b": 10},
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        hovermode="x unified",
        xaxis={"type": "date", "tickvals": [w.isoformat() for w in ticks], "ticktext": _tick_text(ticks),
               "range": [(first - dt.timedelta(days=4)).isoformat(), (last + dt.timedelta(days=4)).isoformat()],
               "hoverformat": "Week ending %d %b %Y", "gridcolor": GRID, "automargin": True},
        yaxis={"title": {"text": "Shares"}, "tickformat": "~s", "rangemode": "tozero", "gridcolor": GRID,
               "automargin": True},
    )}


def _week_ticks(weeks: tuple[dt.date, ...]) -> list[dt.date]:
    """Every week up to 13 of them, else every other one, always ending on the last week."""
    step = 1 if len(weeks) <= 13 else 2
    return list(weeks[(len(weeks) - 1) % step::step])


def _tick_text(ticks: list[dt.date]) -> list[str]:
    """'5 Dec', with the year under the first tick and under each January one."""
    text = []
    for i, day in enumerate(ticks):
        label = f"{day.day} {_MONTHS[day.month - 1]}"
        if i == 0 or day.year != ticks[i - 1].year:
            label += f"<br>{day.year}"
        text.append(label)
    return text


# --- pages -----------------------------------------------------------------------------------

#: The page's only inline script: fixed text (the data comes in as JSON), so its hash goes in
#: the page's Content-Security-Policy and nothing else inline may run.
CHART_SCRIPT = """
(function () {
  var specs = JSON.parse(document.getElementById("chart-specs").textContent);
  if (!window.Plotly) { return; }  // the asset is missing: each chart keeps its fallback text
  var drawn = [];
  specs.charts.forEach(function (chart) {
    var box = document.getElementById(chart.id);
    box.textContent = "";
    Plotly.newPlot(box, chart.data, chart.layout, specs.config);
    drawn.push(box);
  });
  // Printed pages are narrower than the screen: redraw at the paper's width, then back.
  window.addEventListener("beforeprint", function () {
    drawn.forEach(function (box) { Plotly.relayout(box, {width: 680}); });
  });
  window.addEventListener("afterprint", function () {
    drawn.forEach(function (box) { Plotly.relayout(box, {width: null, autosize: true}); });
  });
})();
"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(CHART_SCRIPT.encode("utf-8")).digest()).decode("ascii")
REPORT_CSP = ("default-src 'none'; script-src 'self' file: 'sha256-" + _SCRIPT_HASH + "'; "
              "style-src 'unsafe-inline'; img-src data: blob:; base-uri 'none'; form-action 'none'")
INDEX_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render_report(model: ReportModel, asset_href: str, cache_dir: Path | None = None) -> str:
    """The page of one tier-week; `asset_href` is the folder holding the assets, relative to
    the page (`..` for build/report/<TIER>/<week>.html). `cache_dir` keeps the compiled
    templates when Jinja2's own folder for them cannot be used."""
    charts = [
        {"id": chart_id, **figure}
        for chart_id, figure in (("chart-venue-share", venue_share_figure(model.venue_share)),
                                 ("chart-history", history_figure(model.history)))
        if figure is not None
    ]
    return _environment(cache_dir).get_template("report.html").render(
        m=model,
        csp=REPORT_CSP,
        plotly_src=_asset(asset_href, PLOTLY_JS),
        index_href=_asset(asset_href, "index.html"),
        chart_ids={c["id"] for c in charts},
        chart_specs={"charts": charts, "config": CHART_CONFIG},
        status_counts=_status_counts(model),
    )


@dataclasses.dataclass(frozen=True)
class IndexEntry:
    """One report as the index lists it; `href` relative to the index."""

    tier: str
    week_ending: dt.date
    href: str
    batch_id: str
    built_at: dt.datetime
    quality_status: str
    symbols: int
    total_volume: int

    @classmethod
    def for_report(cls, model: ReportModel, href: str) -> "IndexEntry":
        return cls(model.tier, model.week_ending, href, model.batch_id, model.built_at,
                   model.quality_status, model.symbol_count, model.total_volume)


def render_index(entries: list[IndexEntry]) -> str:
    """Every report, one table per tier (tiers in their usual order), newest week first."""
    for entry in entries:
        _check_relative(entry.href)
    known = [t.value for t in Tier]
    tiers = sorted({e.tier for e in entries}, key=lambda t: (known.index(t) if t in known else len(known), t))
    groups = [(tier, sorted((e for e in entries if e.tier == tier), key=lambda e: e.week_ending, reverse=True))
              for tier in tiers]
    return _environment().get_template("index.html").render(groups=groups, csp=INDEX_CSP, count=len(entries))


def index_page_digest() -> str:
    """What the index page is drawn with besides its entries: its templates and its CSP."""
    digest = hashlib.sha256(INDEX_CSP.encode())
    for name in ("base.html", "index.html"):
        digest.update((TEMPLATES / name).read_bytes())
    return digest.hexdigest()


def _status_counts(model: ReportModel) -> dict[str, int]:
    found = {"PASS": 0, "WARN": 0, "FAIL": 0}
    for check in model.checks:
        found[check.status] = found.get(check.status, 0) + 1
    return found


def _asset(folder: str, name: str) -> str:
    _check_relative(folder)
    folder = folder.rstrip("/")
    return f"{folder}/{name}" if folder else name


def _check_relative(href: str) -> None:
    """Pages fetch nothing from the network: refuse any link with a scheme or host."""
    if ":" in href.split("/", 1)[0] or href.startswith("//"):
        raise ValueError(f"report links must be relative paths, got {href!r}")


@functools.cache
def _environment(cache_dir: Path | None = None):
    """One environment a process: compiling the templates costs 0.05-0.1 s, more than drawing
    a report, so the compiled templates are kept for later processes too (`_bytecode_cache`)."""
    import jinja2  # here, not at the top: importing it costs ~40 ms that planning need not pay
    from markupsafe import Markup

    env = jinja2.Environment(
        bytecode_cache=_bytecode_cache(cache_dir),
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        **_COMPILE_OPTIONS,
    )
    env.filters.update(
        num=fmt_int,
        dec=fmt_decimal,
        share=fmt_share,
        change=fmt_change,
        day=fmt_date,
        when=fmt_time,
        script_json=lambda value: Markup(script_json(value)),
    )
    env.globals.update(DASH=DASH, chart_script=Markup(CHART_SCRIPT), examples_per_reason=REJECT_EXAMPLES,
                       top_limit=TOP_SYMBOLS)
    return env


#: The Environment options that change the code a template compiles to.
_COMPILE_OPTIONS = {"autoescape": True, "trim_blocks": True, "lstrip_blocks": True}


def _bytecode_cache(fallback: Path | None):
    """Where compiled templates are kept: Jinja2's own folder for this user under the temp
    directory, shared by every build dir, so a new build dir's first report does not compile
    them again; the build's `fallback` folder when that one cannot be used safely.

    Jinja2 checks a compiled template against its source; the file name also carries Jinja2's
    version and our compile options, which it does not check. A cache that cannot be written
    (a full or cleaned temp folder) costs a compilation, never the report.
    """
    import jinja2

    class QuietCache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except OSError:
                pass

        def dump_bytecode(self, bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    options = hashlib.sha256(repr(sorted(_COMPILE_OPTIONS.items())).encode()).hexdigest()[:12]
    pattern = f"__otc_jinja2_{jinja2.__version__}_{options}_%s.cache"
    try:
        return QuietCache(pattern=pattern)
    except (OSError, RuntimeError):  # RuntimeError: Jinja2 found the folder unsafe (owner, mode)
        if fallback is None:
            return None
        (fallback / "jinja").mkdir(parents=True, exist_ok=True)
        return QuietCache(str(fallback / "jinja"), pattern=pattern)
