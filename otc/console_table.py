"""Query results as aligned text for a terminal: `otc sql`'s table format and `otc status`.

Columns are separated by two spaces, numbers aligned right, nulls shown as NULL. Given a
width, columns on the right are left out while the others would not fit even cut to
`MIN_WIDTH`; then the widest are cut (their last character becomes `…`) until every line
fits. The line under the rows says how many rows there are and what was left out or cut.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import pyarrow as pa

GAP = "  "
ELLIPSIS = "…"
#: The narrowest a column is cut to (its last character the ellipsis): a date and time's worth.
MIN_WIDTH = 16
_ESCAPES = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def format_table(table: pa.Table, width: int | None = None) -> str:
    """`table` as text lines; with `width`, no line is wider than it (None: nothing is cut)."""
    header = list(table.column_names)
    columns = [[cell_text(v) for v in column.to_pylist()] for column in table.columns]
    right = [_is_number(field.type) for field in table.schema]
    natural = [max([text_width(h)] + [text_width(c) for c in column]) for h, column in zip(header, columns)]
    widths = fit(natural, width)
    shown = len(widths)
    lines = [_line([h for h in header[:shown]], widths, right), _line(["-" * w for w in widths], widths, right)]
    lines += [_line([column[i] for column in columns[:shown]], widths, right) for i in range(table.num_rows)]
    lines.append(_footer(table.num_rows, shown, len(header), widths != natural))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def fit(natural: list[int], width: int | None) -> list[int]:
    """Each shown column's width: `natural` when the line fits in `width`. Else columns on the
    right are left out until the rest, each cut to at most MIN_WIDTH, fit; then the widest of
    those are cut to one cap, the largest that fits. The first column is always shown."""
    if width is None or _line_width(natural) <= width:
        return list(natural)
    shown = len(natural)
    while shown > 1 and _line_width([min(w, MIN_WIDTH) for w in natural[:shown]]) > width:
        shown -= 1
    kept = natural[:shown]
    if _line_width(kept) <= width:
        return kept
    cap = _largest_cap(kept, width - len(GAP) * (shown - 1))
    return [min(w, max(cap, 1)) for w in kept]


def cell_text(value: Any) -> str:
    """A value as one line of text: NULL, true/false, ISO dates, control characters escaped."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def text_width(text: str) -> int:
    """Terminal columns `text` takes: wide East Asian characters two, combining marks none."""
    return sum(_char_width(c) for c in text)


def cut(text: str, width: int) -> str:
    """`text` in at most `width` columns, its last one `…` when anything was cut."""
    if text_width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        if used + _char_width(char) > width - 1:
            break
        kept.append(char)
        used += _char_width(char)
    return "".join(kept) + ELLIPSIS


def _largest_cap(natural: list[int], budget: int) -> int:
    """The largest cap with sum(min(w, cap)) <= budget (0 when none is)."""
    cap = 0
    for candidate in sorted(set(natural)):
        if sum(min(w, candidate) for w in natural) > budget:
            # the cap lies between the previous candidate and this one: share out what is left
            wider = [w for w in natural if w > cap]
            spare = budget - sum(min(w, cap) for w in natural)
            return cap + spare // len(wider) if spare > 0 else cap
        cap = candidate
    return cap


def _line(cells: list[str], widths: list[int], right: list[bool]) -> str:
    parts = []
    for text, width, align_right in zip(cells, widths, right):
        text = cut(text, width)
        pad = " " * (width - text_width(text))
        parts.append(pad + text if align_right else text + pad)
    return GAP.join(parts)


def _footer(rows: int, shown: int, total: int, cut_any: bool) -> str:
    text = f"({rows} row{'s' if rows != 1 else ''}"
    if shown < total:
        text += f"; {shown} of {total} columns, --wide shows all"
    elif cut_any:
        text += "; cut to fit, --wide shows all"
    return text + ")"


def _line_width(widths: list[int]) -> int:
    return sum(widths) + len(GAP) * (len(widths) - 1)


def _is_number(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
