"""The page a report stage leaves when it cannot draw the week: it says why, and loads nothing."""

from __future__ import annotations

import datetime as dt
import html

from otc.tiers import Tier


def failure_page(tier: Tier, week: dt.date, error: str) -> bytes:
    """A plain page naming the tier-week and the (escaped) reason there is no report."""
    title = f"{tier.value} week ending {week.isoformat()}: no report"
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>{html.escape(error)}</p>\n"
        "<p>Fix the week's source file and run the backfill again.</p>\n</body></html>\n"
    ).encode("utf-8")
