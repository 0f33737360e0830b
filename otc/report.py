"""The weekly research report: its model, its pages and the chart library.

`build_report_model` turns a tier-week's tables into plain values, `render_report` and
`render_index` turn those into HTML; `write_assets` puts the chart library beside the pages,
the one file they load. Pages live at `<build>/report/<TIER>/<week>.html` and refer to the
assets as `../<asset>`; the index lives beside the assets.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

from otc.report_html import PLOTLY_JS, IndexEntry, index_page_digest, render_index, render_report
from otc.report_model import ReportInputs, ReportModel, build_report_model
from otc.store import read_json, write_bytes, write_json

__all__ = [
    "ASSET_NAMES", "IndexEntry", "ReportInputs", "ReportModel",
    "build_report_model", "render_index", "render_report", "write_assets", "write_index",
]

#: Files every page loads from the report folder.
ASSET_NAMES: tuple[str, ...] = (PLOTLY_JS,)


def write_assets(report_dir: Path) -> list[Path]:
    """Copy plotly.js, as shipped inside the `plotly` wheel, into `report_dir`.

    Written atomically, and left untouched when it already holds the same bytes (its
    modification time then says when it last changed). Returns the asset files.
    """
    files = []
    for name, content in ((PLOTLY_JS, plotly_bundle()),):
        path = report_dir / name
        write_bytes(content, path)
        files.append(path)
    return files


def write_index(report_dir: Path, entries: list[dict[str, Any]], state_file: Path) -> None:
    """`index.html` listing the reports (`entries`: the report records' `index_entry`), with the
    assets beside it. A run that changed no report, no installed asset and not the index's
    templates renders and writes nothing: `state_file` keeps what the index was drawn from."""
    bundle = plotly_bundle_path().stat()
    state = {"entries": entries, "plotly": [bundle.st_size, bundle.st_mtime_ns], "page": index_page_digest()}
    index, copied = report_dir / "index.html", report_dir / PLOTLY_JS
    if index.exists() and copied.exists() and copied.stat().st_size == bundle.st_size and _state(state_file) == state:
        return
    write_assets(report_dir)
    page = render_index([IndexEntry(**{
        **entry, "week_ending": dt.date.fromisoformat(entry["week_ending"]),
        "built_at": dt.datetime.fromisoformat(entry["built_at"])}) for entry in entries])
    write_bytes(page.encode("utf-8"), index)
    write_json(state, state_file)


def _state(state_file: Path) -> Any:
    try:
        return read_json(state_file)
    except (OSError, ValueError):
        return None


def plotly_bundle() -> bytes:
    return plotly_bundle_path().read_bytes()


def plotly_bundle_path() -> Path:
    """The plotly.js bundle of the installed `plotly` package, found without importing it
    (importing plotly takes a while and is not needed for a file it ships)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed; it ships the report's chart library")
    return Path(spec.submodule_search_locations[0]) / "package_data" / PLOTLY_JS
