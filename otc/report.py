"""The weekly research report: its model, its pages and the chart library.

`build_report_model` turns a tier-week's tables into plain values, `render_report` and
`render_index` turn those into HTML; `write_assets` puts the chart library beside the pages,
the one file they load. Pages live at `<build>/report/<TIER>/<week>.html` and refer to the
assets as `../<asset>`; the index lives beside the assets.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from otc.report_html import PLOTLY_JS, IndexEntry, render_index, render_report
from otc.report_model import ReportInputs, ReportModel, build_report_model
from otc.store import write_bytes

__all__ = [
    "ASSET_NAMES", "IndexEntry", "ReportInputs", "ReportModel",
    "build_report_model", "render_index", "render_report", "write_assets",
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


def plotly_bundle() -> bytes:
    """The plotly.js bundle of the installed `plotly` package, found without importing it
    (importing plotly takes a while and is not needed for a file it ships)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed; it ships the report's chart library")
    return (Path(spec.submodule_search_locations[0]) / "package_data" / PLOTLY_JS).read_bytes()
