"""The weekly research report: each section's values from small hand-made
tables and from the real fixture backfill, numbers formatted for people, and pages that are
well-formed, fetch nothing and show hostile data as text."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from otc.report import (
    ASSET_NAMES, IndexEntry, ReportInputs, build_report_model, plotly_bundle, render_index, render_report,
    write_assets,
)
from otc.report_html import (
    fmt_change, fmt_date, fmt_decimal, fmt_int, fmt_share, fmt_time, history_figure, script_json,
    venue_share_figure,
)
from otc.report_model import (
    Counts, History, Mover, RejectExample, RejectReason, SymbolRow, VenueSlice, VolumeSeries, counts,
    movers, rejects_by_reason, top_symbols, venue_slices, volume_history,
)
from otc.schemas import Table

from browser import read_week
from doit_helpers import doit, make_project

WEEK = dt.date(2025, 12, 26)
BUILT_AT = dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone.utc)
HOSTILE = "<script>alert(1)</script>"
#: The demo backfill of the bundled fixture weeks (data/fixtures/otc/README.md).
FIXTURE_BACKFILL = ["tier=NMS_TIER_1", "start_week=2025-11-21", "end_week=2025-12-26", "source_dir=data/fixtures/otc"]


def table(target: Table, rows: list[dict], week: dt.date = WEEK) -> pa.Table:
    """Rows of `target` with the given columns; the rest null (week and tier filled in)."""
    return pa.Table.from_pylist([{"week_ending": week, "tier": "NMS_TIER_1", **r} for r in rows],
                                schema=target.schema)


def snapshot(*rows: tuple) -> pa.Table:
    """(symbol, volume) or (symbol, volume, avg_6w_volume, trend_direction) per row."""
    return table(Table.RESEARCH_SNAPSHOT, [{
        "symbol": r[0], "total_volume": r[1], "total_trades": r[1] // 100, "venue_count": 2,
        "avg_trade_size": Decimal("100.00"), "top_venue_mpid": "NITE", "top_venue_share_pct": Decimal("60.0000"),
        "rolling_avg_6w_volume": r[2] if len(r) > 2 else None,
        "rolling_trend_direction": r[3] if len(r) > 3 else None,
        "has_rolling_data": len(r) > 2, "quality_status": "PASS",
    } for r in rows])


def rolling(*rows: tuple[str, str, str, int, int]) -> pa.Table:
    """(symbol, trend_direction, trend_pct, avg_6w_volume, weeks_in_window) per row."""
    return table(Table.ROLLING_6W, [{
        "symbol": s, "trend_direction": d, "trend_pct": Decimal(p), "avg_6w_volume": a, "avg_6w_trades": a // 100,
        "weeks_in_window": w, "is_complete_window": w == 6,
    } for s, d, p, a, w in rows])


def venue_share(*rows: tuple[str, int, str]) -> pa.Table:
    return table(Table.VENUE_SHARE, [
        {"mpid": m, "total_volume": v, "total_trades": 1, "market_share_pct": Decimal(p)} for m, v, p in rows
    ])


def checks(*statuses: str, name: str = "check") -> pa.Table:
    return table(Table.QUALITY_CHECKS, [{
        "pipeline_name": "otc.aggregate_week", "check_name": f"{name}_{i}", "check_category": "INTEGRITY",
        "status": s, "check_value": "0", "expected_value": "0", "tolerance": "0", "message": f"check {i}",
    } for i, s in enumerate(statuses)])


def rejects(*rows: tuple[str, str, int, str, str]) -> pa.Table:
    """(stage, reason_code, line_number, reason_detail, raw_line) per row."""
    return table(Table.REJECTS, [
        {"stage": s, "reason_code": c, "line_number": n, "reason_detail": d, "raw_line": raw} for s, c, n, d, raw in rows
    ])


def summaries(*rows: tuple[dt.date, str, int]) -> pa.Table:
    return pa.table({
        "week_ending": pa.array([r[0] for r in rows], pa.date32()),
        "symbol": pa.array([r[1] for r in rows], pa.string()),
        "total_volume": pa.array([r[2] for r in rows], pa.int64()),
    })


COUNTS = {"raw_lines": 13, "normalized": 10, "rejected": 2, "skipped": 1}


def inputs(**changes) -> ReportInputs:
    base = ReportInputs(
        tier="NMS_TIER_1", week_ending=WEEK, batch_id="backfill_NMS_TIER_1_2025-11-21_2025-12-26_20260102T150000",
        built_at=BUILT_AT, counts=COUNTS,
        snapshot=snapshot(("AAPL", 3000, 2500, "UP"), ("MSFT", 1000, 1200, "DOWN")),
        venue_share=venue_share(("NITE", 2500, "62.5000"), ("VIRT", 1500, "37.5000")),
        checks=checks("PASS", "PASS"),
        rejects=rejects(("NORMALIZE", "INVALID_SYMBOL", 4, "symbol='BAD$'", "2025-12-26|NMS_TIER_1|BAD$|NITE|1|1")),
        rolling=rolling(("AAPL", "UP", "20.00", 2500, 6), ("MSFT", "DOWN", "-16.67", 1200, 6)),
        history=summaries((WEEK - dt.timedelta(weeks=1), "AAPL", 2000), (WEEK, "AAPL", 3000), (WEEK, "MSFT", 1000)),
    )
    return dataclasses.replace(base, **changes)


# --- top symbols ---------------------------------------------------------------------------------


def test_top_symbols_most_volume_first_ties_to_the_smaller_symbol():
    top = top_symbols(snapshot(("MSFT", 500), ("ZZZ", 900), ("AAPL", 900), ("B", 0), ("AMD", 900)), None)
    assert [(s.rank, s.symbol, s.total_volume) for s in top] == [
        (1, "AAPL", 900), (2, "AMD", 900), (3, "ZZZ", 900), (4, "MSFT", 500), (5, "B", 0),
    ]


def test_top_symbols_are_twenty():
    table_ = snapshot(*[(f"S{i:02d}", 10 * i) for i in range(1, 26)])
    top = top_symbols(table_, None)
    assert [s.symbol for s in top] == [
        "S25", "S24", "S23", "S22", "S21", "S20", "S19", "S18", "S17", "S16",
        "S15", "S14", "S13", "S12", "S11", "S10", "S09", "S08", "S07", "S06",
    ]


def test_top_symbols_carry_the_snapshot_rolling_fields_and_rolling_trend_pct():
    top = top_symbols(snapshot(("AAPL", 3000, 2500, "UP"), ("MSFT", 1000, 1200, "DOWN")),
                      rolling(("MSFT", "DOWN", "-16.67", 1200, 6), ("AAPL", "UP", "20.00", 2500, 6),
                              ("GONE", "DOWN", "-100.00", 10, 2)))
    assert top == (
        SymbolRow(1, "AAPL", 3000, 30, 2, Decimal("100.00"), "NITE", Decimal("60.0000"), 2500, "UP", Decimal("20.00")),
        SymbolRow(2, "MSFT", 1000, 10, 2, Decimal("100.00"), "NITE", Decimal("60.0000"), 1200, "DOWN", Decimal("-16.67")),
    )


def test_top_symbols_without_rolling_have_no_averages_or_trends():
    (row,) = top_symbols(snapshot(("AAPL", 3000)), None)
    assert (row.avg_6w_volume, row.trend_direction, row.trend_pct) == (None, None, None)


def test_top_symbols_read_dictionary_encoded_symbols():
    plain = snapshot(("B", 5), ("A", 5), ("C", 9))
    encoded = plain.set_column(plain.schema.get_field_index("symbol"), "symbol", plain["symbol"].dictionary_encode())
    assert [s.symbol for s in top_symbols(encoded, None)] == ["C", "A", "B"]


# --- venue share -----------------------------------------------------------------------------------

#: 18 venues, 1,000,000 shares: ZETA, 13 venues of 55,000, then TIEB and TIEA tie for 15th place.
EIGHTEEN_VENUES = [("ZETA", 150000, "15.0000")] + [(f"M{i:03d}", 55000, "5.5000") for i in range(1, 14)] + [
    ("TIEB", 40000, "4.0000"), ("TIEA", 40000, "4.0000"), ("AAAA", 30000, "3.0000"), ("BBBB", 25000, "2.5000"),
]


def test_venue_share_is_the_top_15_and_the_rest():
    slices = venue_slices(venue_share(*EIGHTEEN_VENUES))
    assert slices == (
        VenueSlice("ZETA", 150000, Decimal("15.0000"), 1),
        *[VenueSlice(f"M{i:03d}", 55000, Decimal("5.5000"), 1) for i in range(1, 14)],
        VenueSlice("TIEA", 40000, Decimal("4.0000"), 1),  # the tie goes to the smaller MPID
        VenueSlice("3 other venues", 95000, Decimal("9.5000"), 3, rest=True),  # TIEB + AAAA + BBBB
    )
    assert sum(s.total_volume for s in slices) == 1_000_000
    assert sum(s.share_pct for s in slices) == Decimal("100.0000")


def test_venue_share_of_the_rest_is_rounded_half_up_from_its_volume():
    # 80,000 shares: V01 9,999, V02..V15 5,000 each, V16 1 -> the rest is 100 / 80000 = 0.00125 %
    rows = [("V01", 9999, "12.4988")] + [(f"V{i:02d}", 5000, "6.2500") for i in range(2, 16)] + [("V16", 1, "0.0013")]
    rest = venue_slices(venue_share(*rows))[-1]
    assert rest == VenueSlice("1 other venue", 1, Decimal("0.0013"), 1, rest=True)


def test_venue_share_shares_add_up_to_100_give_or_take_each_rounding():
    # 17 venues of 1 share each: 5.8824 % each (100/17 = 5.88235..), the other two 11.7647 %
    slices = venue_slices(venue_share(*[(f"V{i:02d}", 1, "5.8824") for i in range(1, 18)]))
    assert len(slices) == 16 and slices[-1].share_pct == Decimal("11.7647")
    assert sum(s.share_pct for s in slices) == Decimal("100.0007")
    assert sum(s.total_volume for s in slices) == 17


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([], (), id="no-venues"),
        pytest.param([("VIRT", 10, "100.0000")], (VenueSlice("VIRT", 10, Decimal("100.0000"), 1),), id="one-venue"),
        pytest.param([(f"V{i:02d}", 0, "0.0000") for i in range(1, 17)],
                     tuple(VenueSlice(f"V{i:02d}", 0, Decimal("0.0000"), 1) for i in range(1, 16))
                     + (VenueSlice("1 other venue", 0, Decimal("0.0000"), 1, rest=True),),
                     id="no-volume-every-share-zero"),
    ],
)
def test_venue_share_edge_cases(rows, expected):
    assert venue_slices(venue_share(*rows)) == expected


# --- movers ------------------------------------------------------------------------------------------

ROLLING_MOVERS = rolling(
    ("A", "UP", "12.35", 2000, 6), ("B", "UP", "50.00", 300, 6), ("C", "UP", "50.00", 400, 3),
    ("D", "UP", "5.01", 1000, 6), ("E", "UP", "100.00", 50, 2),
    ("F", "FLAT", "5.00", 900, 6), ("G", "FLAT", "-5.00", 800, 6),
    ("H", "DOWN", "-22.22", 700, 6), ("I", "DOWN", "-7.13", 600, 6), ("J", "DOWN", "-22.22", 500, 6),
    ("K", "DOWN", "-100.00", 5, 2),
)


def test_movers_up_and_down_by_trend_pct_ties_to_the_smaller_symbol():
    up, down = movers(ROLLING_MOVERS, snapshot(("A", 2100), ("B", 450), ("E", 99), ("H", 640), ("I", 580)))
    assert up == (
        Mover("E", Decimal("100.00"), 50, 2, 99),
        Mover("B", Decimal("50.00"), 300, 6, 450),
        Mover("C", Decimal("50.00"), 400, 3, None),  # no volume this week
        Mover("A", Decimal("12.35"), 2000, 6, 2100),
        Mover("D", Decimal("5.01"), 1000, 6, None),
    )
    assert down == (
        Mover("K", Decimal("-100.00"), 5, 2, None),
        Mover("H", Decimal("-22.22"), 700, 6, 640),
        Mover("J", Decimal("-22.22"), 500, 6, None),
        Mover("I", Decimal("-7.13"), 600, 6, 580),
    )


def test_movers_are_ten_each_way():
    many = rolling(*[(f"U{i:02d}", "UP", f"{10 + i}.00", 100, 6) for i in range(12)],
                   *[(f"D{i:02d}", "DOWN", f"-{10 + i}.00", 100, 6) for i in range(12)])
    up, down = movers(many, snapshot())
    assert [m.symbol for m in up] == ["U11", "U10", "U09", "U08", "U07", "U06", "U05", "U04", "U03", "U02"]
    assert [m.symbol for m in down] == ["D11", "D10", "D09", "D08", "D07", "D06", "D05", "D04", "D03", "D02"]


@pytest.mark.parametrize("rolling_table", [pytest.param(None, id="no-rolling"),
                                           pytest.param(rolling(), id="empty-rolling")])
def test_no_movers_without_rolling_data(rolling_table):
    assert movers(rolling_table, snapshot(("A", 1))) == ((), ())
    assert build_report_model(inputs(rolling=rolling_table)).has_rolling is False


# --- volume history ------------------------------------------------------------------------------------

NOV28, DEC5, DEC12, DEC19 = dt.date(2025, 11, 28), dt.date(2025, 12, 5), dt.date(2025, 12, 12), dt.date(2025, 12, 19)


def test_history_missing_weeks_and_missing_symbols_are_gaps_not_zeros():
    history = summaries(
        (NOV28, "CCC", 7),  # not a followed symbol, but the tier's first week with data
        (DEC5, "AAA", 100), (DEC5, "BBB", 50), (DEC5, "CCC", 8),
        # 2025-12-12: no summary at all
        (DEC19, "AAA", 300),  # BBB did not trade
        (WEEK, "BBB", 0), (WEEK, "AAA", 400),  # a zero volume is a value
        (dt.date(2026, 1, 2), "AAA", 999),  # after the report's week
        (dt.date(2025, 6, 27), "AAA", 999),  # 26 weeks before it: outside the span
    )
    assert volume_history(history, ["AAA", "BBB"], WEEK) == History(
        (NOV28, DEC5, DEC12, DEC19, WEEK),
        (VolumeSeries("AAA", (None, 100, None, 300, 400)), VolumeSeries("BBB", (None, 50, None, None, 0))),
    )


def test_history_of_one_week():
    assert volume_history(summaries((WEEK, "AAA", 5)), ["AAA"], WEEK) == History(
        (WEEK,), (VolumeSeries("AAA", (5,)),))


def test_history_spans_at_most_26_weeks():
    history = summaries(*[(WEEK - dt.timedelta(weeks=i), "AAA", i) for i in range(30)])
    found = volume_history(history, ["AAA"], WEEK)
    assert (len(found.weeks), found.weeks[0], found.weeks[-1]) == (26, dt.date(2025, 7, 4), WEEK)
    assert found.series[0].volumes == tuple(range(25, -1, -1))


def test_history_without_any_summary_is_the_report_week_alone():
    assert volume_history(summaries(), [], WEEK) == History((WEEK,), ())


def test_history_follows_the_first_ten_of_the_top_symbols():
    symbols = [(f"S{i:02d}", 100 * i) for i in range(1, 13)]
    model = build_report_model(inputs(snapshot=snapshot(*symbols), history=summaries(*[(WEEK, s, v) for s, v in symbols])))
    assert [s.symbol for s in model.history.series] == ["S12", "S11", "S10", "S09", "S08", "S07", "S06", "S05", "S04", "S03"]
    assert [s.volumes for s in model.history.series[:2]] == [(1200,), (1100,)]


# --- rejects, counts, checks ---------------------------------------------------------------------------


def test_rejects_by_reason_most_first_with_the_first_three_lines_as_examples():
    found = rejects_by_reason(rejects(
        ("NORMALIZE", "DUPLICATE_KEY", 10, "dup 10", "l10"), ("INGEST", "PARSE_ERROR", 9, "bad 9", "l9"),
        ("NORMALIZE", "INVALID_SYMBOL", 4, "sym 4", "l4"), ("NORMALIZE", "DUPLICATE_KEY", 12, "dup 12", "l12"),
        ("INGEST", "PARSE_ERROR", 3, "bad 3", "l3"), ("NORMALIZE", "DUPLICATE_KEY", 6, "dup 6", "l6"),
        ("INGEST", "PARSE_ERROR", 7, "bad 7", "l7"), ("NORMALIZE", "INVALID_SYMBOL", 2, "sym 2", "l2"),
        ("INGEST", "PARSE_ERROR", 5, "bad 5", "l5"), ("NORMALIZE", "DUPLICATE_KEY", 8, "dup 8", "l8"),
    ))
    assert found == (
        RejectReason("INGEST", "PARSE_ERROR", 4, (RejectExample(3, "bad 3", "l3"), RejectExample(5, "bad 5", "l5"),
                                                   RejectExample(7, "bad 7", "l7"))),
        RejectReason("NORMALIZE", "DUPLICATE_KEY", 4, (RejectExample(6, "dup 6", "l6"), RejectExample(8, "dup 8", "l8"),
                                                       RejectExample(10, "dup 10", "l10"))),
        RejectReason("NORMALIZE", "INVALID_SYMBOL", 2, (RejectExample(2, "sym 2", "l2"), RejectExample(4, "sym 4", "l4"))),
    )


def test_no_rejects():
    assert rejects_by_reason(rejects()) == ()


def test_counts_are_the_four_named_counts():
    assert counts({"skipped": 1, "rejected": 2, "normalized": 10, "raw_lines": 13}) == Counts(13, 10, 2, 1)
    with pytest.raises(KeyError, match="skipped"):
        counts({"raw_lines": 1, "normalized": 1, "rejected": 0})


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        pytest.param(("PASS", "PASS"), "PASS", id="all-pass"),
        pytest.param(("PASS", "WARN", "PASS"), "WARN", id="a-warning"),
        pytest.param(("WARN", "FAIL", "PASS"), "FAIL", id="fail-beats-warn"),
        pytest.param((), "PASS", id="no-checks"),
    ],
)
def test_quality_status_is_the_worst_check(statuses, worst):
    model = build_report_model(inputs(checks=checks(*statuses)))
    assert model.quality_status == worst
    assert [(c.name, c.status) for c in model.checks] == [(f"check_{i}", s) for i, s in enumerate(statuses)]


def test_quality_status_reads_a_dictionary_encoded_status():
    plain = checks("PASS", "WARN")
    encoded = plain.set_column(plain.schema.get_field_index("status"), "status", plain["status"].dictionary_encode())
    assert build_report_model(inputs(checks=encoded)).quality_status == "WARN"


def test_model_of_a_small_week():
    model = build_report_model(inputs())
    assert (model.tier, model.week_ending, model.counts, model.symbol_count, model.venue_count,
            model.total_volume, model.total_trades, model.quality_status) == (
        "NMS_TIER_1", WEEK, Counts(13, 10, 2, 1), 2, 2, 4000, 40, "PASS")
    assert model.rejects == (RejectReason("NORMALIZE", "INVALID_SYMBOL", 1, (
        RejectExample(4, "symbol='BAD$'", "2025-12-26|NMS_TIER_1|BAD$|NITE|1|1"),)),)
    assert (model.movers_up, model.movers_down) == ((Mover("AAPL", Decimal("20.00"), 2500, 6, 3000),),
                                                    (Mover("MSFT", Decimal("-16.67"), 1200, 6, 1000),))
    assert model.history == History((WEEK - dt.timedelta(weeks=1), WEEK),
                                    (VolumeSeries("AAPL", (2000, 3000)), VolumeSeries("MSFT", (None, 1000))))


def test_inputs_are_not_changed():
    given = inputs()
    before = {f.name: getattr(given, f.name) for f in dataclasses.fields(given)}
    build_report_model(given)
    assert all(getattr(given, name) is value for name, value in before.items())
    assert given.snapshot.equals(snapshot(("AAPL", 3000, 2500, "UP"), ("MSFT", 1000, 1200, "DOWN")))


def empty_week() -> ReportInputs:
    """A week whose every line was rejected: no symbols, no venues, failing checks, no rolling."""
    return inputs(
        counts={"raw_lines": 2, "normalized": 0, "rejected": 2, "skipped": 0},
        snapshot=snapshot(), venue_share=venue_share(), rolling=None, history=summaries(),
        checks=checks("PASS", "FAIL", "FAIL"),
        rejects=rejects(("INGEST", "PARSE_ERROR", 2, "Expected 6 pipe-delimited fields, got 1", HOSTILE),
                        ("NORMALIZE", "NEGATIVE_VOLUME", 3, "total_shares=-5", "2025-12-26|NMS_TIER_1|A|NITE|-5|1")),
    )


def test_a_week_with_no_accepted_rows():
    model = build_report_model(empty_week())
    assert (model.symbol_count, model.venue_count, model.total_volume, model.top_symbols, model.venue_share,
            model.movers_up, model.movers_down, model.history, model.quality_status, model.has_rolling) == (
        0, 0, 0, (), (), (), (), History((WEEK,), ()), "FAIL", False)
    assert [(r.code, r.count) for r in model.rejects] == [("PARSE_ERROR", 1), ("NEGATIVE_VOLUME", 1)]


# --- numbers for people --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [
        pytest.param(fmt_int, 0, "0", id="int-zero"),
        pytest.param(fmt_int, 1234567, "1,234,567", id="int-thousands"),
        pytest.param(fmt_int, -1234567, "-1,234,567", id="int-negative"),
        pytest.param(fmt_int, 999, "999", id="int-no-separator-below-1000"),
        pytest.param(fmt_int, 9_223_372_036_854_775_807, "9,223,372,036,854,775,807", id="int-int64-max"),
        pytest.param(fmt_int, None, "\u2014", id="int-none-is-a-dash"),
        pytest.param(fmt_decimal, Decimal("252.07"), "252.07", id="decimal-as-is"),
        pytest.param(fmt_decimal, Decimal("1234.5"), "1,234.50", id="decimal-thousands-and-padding"),
        pytest.param(fmt_decimal, Decimal("250.125"), "250.13", id="decimal-half-up"),
        pytest.param(fmt_decimal, Decimal("-250.125"), "-250.13", id="decimal-half-away-from-zero"),
        pytest.param(fmt_decimal, Decimal("-0.004"), "0.00", id="decimal-no-negative-zero"),
        pytest.param(fmt_decimal, 7, "7.00", id="decimal-from-int"),
        pytest.param(fmt_decimal, None, "\u2014", id="decimal-none"),
        pytest.param(fmt_share, Decimal("43.6176"), "43.62 %", id="share-2dp"),
        pytest.param(fmt_share, Decimal("50.0050"), "50.01 %", id="share-half-up"),
        pytest.param(fmt_share, Decimal("100.0000"), "100.00 %", id="share-all"),
        pytest.param(fmt_share, Decimal("0.0000"), "0.00 %", id="share-zero"),
        pytest.param(fmt_share, None, "\u2014", id="share-none"),
        pytest.param(fmt_change, Decimal("12.5"), "+12.50 %", id="change-up-has-plus"),
        pytest.param(fmt_change, Decimal("-3.1"), "-3.10 %", id="change-down-has-minus"),
        pytest.param(fmt_change, Decimal("0.00"), "0.00 %", id="change-zero-has-no-sign"),
        pytest.param(fmt_change, Decimal("-0.004"), "0.00 %", id="change-rounds-to-unsigned-zero"),
        pytest.param(fmt_change, Decimal("12.345"), "+12.35 %", id="change-half-up"),
        pytest.param(fmt_change, Decimal("-7.125"), "-7.13 %", id="change-half-away-from-zero"),
        pytest.param(fmt_change, Decimal("12345.678"), "+12,345.68 %", id="change-thousands"),
        pytest.param(fmt_change, None, "\u2014", id="change-none"),
        pytest.param(fmt_date, dt.date(2025, 12, 5), "5 Dec 2025", id="date"),
        pytest.param(fmt_time, BUILT_AT, "2026-01-02 15:00:00 UTC", id="time-utc"),
        pytest.param(fmt_time, dt.datetime(2026, 1, 2, 16, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                     "2026-01-02 15:30:00 UTC", id="time-converted-to-utc"),
    ],
)
def test_numbers_for_people(fmt, value, text):
    assert fmt(value) == text


@pytest.mark.parametrize("fmt", [fmt_int, fmt_decimal, fmt_share, fmt_change])
def test_floats_are_refused(fmt):
    with pytest.raises(TypeError, match="float"):
        fmt(0.1)


def test_script_json_cannot_close_its_script():
    text = script_json({"name": "</script><!--&\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert text == '{"name":"\\u003c/script\\u003e\\u003c!--\\u0026\\u2028"}'
    assert json.loads(text) == {"name": "</script><!--&\u2028"}


# --- pages -----------------------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """A page parsed: its elements, text and scripts; `errors` lists every tag left open or closed
    out of order."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.feed(html)
        self.close()
        self.errors += [f"<{tag}> never closed" for tag in self.open]

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.open[-1] if self.open else None}>")
        else:
            self.open.pop()

    def handle_data(self, data):
        if self.open and self.open[-1] == "script":
            attrs, content = self.scripts[-1]
            self.scripts[-1] = (attrs, content + data)
        elif not (self.open and self.open[-1] == "style"):
            self.text.append(data)

    @property
    def plain_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def links(self) -> list[str]:
        return [a[name] for _, a in self.elements for name in ("src", "href") if a.get(name) is not None]


def render(model_inputs: ReportInputs, asset_href: str = "..") -> tuple[str, Page]:
    html = render_report(build_report_model(model_inputs), asset_href)
    return html, Page(html)


@pytest.mark.parametrize("week", [pytest.param(inputs, id="small-week"), pytest.param(empty_week, id="empty-week")])
def test_page_is_well_formed_and_links_only_to_files(week):
    html, page = render(week())
    assert html.startswith("<!DOCTYPE html>")
    assert page.errors == []
    assert [link for link in page.links() if re.match(r"\s*(https?:)?//", link, re.IGNORECASE)] == []
    assert "http://" not in html and "https://" not in html


def test_page_shows_the_week_formatted_for_people():
    _, page = render(inputs())
    text = page.plain_text
    for expected in ("NMS_TIER_1 · week ending 26 Dec 2025", "backfill_NMS_TIER_1_2025-11-21_2025-12-26_20260102T150000",
                     "2026-01-02 15:00:00 UTC", "Raw lines 13", "Normalized 10", "Rejected 2", "Skipped repeats 1",
                     "Shares traded 4,000", "1 AAPL 3,000 30 2 100.00 NITE 60.00 % 2,500 ▲ UP +20.00 %",
                     "MSFT -16.67 % 1,200 1,000 6", "NITE 2,500 62.50 %", "INVALID_SYMBOL NORMALIZE 1",
                     "2 PASS 0 WARN 0 FAIL"):
        assert expected in text


def test_page_draws_both_charts_from_an_escaped_json_spec():
    html, page = render(inputs())
    (spec_attrs, spec), (src_attrs, _), (inline_attrs, inline) = page.scripts
    assert (spec_attrs, src_attrs, inline_attrs) == ({"type": "application/json", "id": "chart-specs"},
                                                     {"src": "../plotly.min.js"}, {})
    charts = json.loads(spec)["charts"]
    assert [c["id"] for c in charts] == ["chart-venue-share", "chart-history"]
    assert charts[0]["data"][0]["y"] == ["NITE", "VIRT"] and charts[0]["data"][0]["text"] == ["62.50 %", "37.50 %"]
    assert [(t["name"], t["y"]) for t in charts[1]["data"]] == [("AAPL", [2000, 3000]), ("MSFT", [None, 1000])]
    config = json.loads(spec)["config"]
    assert (config["displaylogo"], config["showSendToCloud"], config["typesetMath"]) == (False, False, False)
    # the Content-Security-Policy lets exactly this inline script run
    (csp,) = [a["content"] for tag, a in page.elements if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_a_week_without_charts_has_no_scripts():
    _, page = render(empty_week())
    assert page.scripts == []
    for expected in ("No venue traded any volume this week.", "No accepted rows this week.",
                     "No 6-week rolling data for this week.", "1 PASS 0 WARN 2 FAIL"):
        assert expected in page.plain_text


@pytest.mark.parametrize(("asset_href", "src"), [
    pytest.param("..", "../plotly.min.js", id="parent"),
    pytest.param("../", "../plotly.min.js", id="parent-slash"),
    pytest.param("", "plotly.min.js", id="same-folder"),
])
def test_asset_href_is_the_folder_of_the_assets(asset_href, src):
    _, page = render(inputs(), asset_href)
    assert page.scripts[1][0] == {"src": src}


@pytest.mark.parametrize("href", ["https://cdn.plot.ly", "//cdn.plot.ly", "http:"])
def test_asset_href_must_be_a_relative_path(href):
    with pytest.raises(ValueError, match="relative"):
        render(inputs(), href)


def test_hostile_data_shows_as_text_and_runs_nothing():
    evil = "</script><script>alert(2)</script><img src=x onerror=alert(3)>"
    week = inputs(
        batch_id=f"batch{evil}",
        snapshot=snapshot((f"S{evil}", 10, 10, "UP")),
        venue_share=venue_share((f"M{evil}", 10, "100.0000")),
        rolling=rolling((f"S{evil}", "UP", "10.00", 10, 6)),
        history=summaries((WEEK, f"S{evil}", 10)),
        checks=checks("PASS", name=f"c{evil}"),
        rejects=rejects(("INGEST", "PARSE_ERROR", 2, f"symbol='{HOSTILE}'", f"2025-12-26|NMS_TIER_1|{HOSTILE}|NITE|1|1")),
    )
    html, page = render(week)
    assert page.errors == []
    assert [tag for tag, _ in page.elements if tag in ("script", "img")] == ["script", "script", "script"]
    assert f"2025-12-26|NMS_TIER_1|{HOSTILE}|NITE|1|1" in page.plain_text
    assert f"S{evil}" in page.plain_text and f"batch{evil}" in page.plain_text and f"c{evil}" in page.plain_text
    spec = json.loads(page.scripts[0][1])  # the chart labels, as Plotly shows them (entities)
    assert spec["charts"][0]["data"][0]["y"] == ["M&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
                                                  "&lt;img src=x onerror=alert(3)&gt;"]
    assert html.count("<script") == 3 and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_index_lists_reports_newest_first_by_tier():
    def entry(tier, week, status="PASS"):
        return IndexEntry(tier, week, f"{tier}/{week.isoformat()}.html", f"batch_{tier}", BUILT_AT, status, 5, 1234567)
    html = render_index([entry("OTC", DEC12), entry("NMS_TIER_1", DEC5), entry("NMS_TIER_1", WEEK, "WARN"),
                         entry("NMS_TIER_2", DEC19), entry("NMS_TIER_1", DEC19)])
    page = Page(html)
    assert page.errors == []
    assert [a["href"] for tag, a in page.elements if tag == "a"] == [
        "#tier-NMS_TIER_1", "#tier-NMS_TIER_2", "#tier-OTC",
        "NMS_TIER_1/2025-12-26.html", "NMS_TIER_1/2025-12-19.html", "NMS_TIER_1/2025-12-05.html",
        "NMS_TIER_2/2025-12-19.html", "OTC/2025-12-12.html",
    ]
    assert "2025-12-26 WARN 5 1,234,567 batch_NMS_TIER_1 2026-01-02 15:00:00 UTC" in page.plain_text
    assert "5 reports, newest week first" in page.plain_text


def test_index_entry_for_a_report():
    model = build_report_model(inputs())
    assert IndexEntry.for_report(model, "NMS_TIER_1/2025-12-26.html") == IndexEntry(
        "NMS_TIER_1", WEEK, "NMS_TIER_1/2025-12-26.html", model.batch_id, BUILT_AT, "PASS", 2, 4000)


def test_empty_index_says_so():
    page = Page(render_index([]))
    assert page.errors == [] and "No reports yet" in page.plain_text


def test_index_refuses_links_off_disk():
    entry = IndexEntry("OTC", WEEK, "https://example.com/x.html", "b", BUILT_AT, "PASS", 1, 1)
    with pytest.raises(ValueError, match="relative"):
        render_index([entry])


# --- assets ----------------------------------------------------------------------------------------------


def test_write_assets_copies_plotly_once(tmp_path: Path):
    (path,) = write_assets(tmp_path / "report")
    assert path == tmp_path / "report" / "plotly.min.js" and ASSET_NAMES == ("plotly.min.js",)
    assert path.read_bytes() == plotly_bundle() and path.read_bytes().startswith(b"/**\n* plotly.js v")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert write_assets(tmp_path / "report") == [path]
    assert path.stat().st_mtime_ns == 1_000_000_000  # identical: not written again
    path.write_bytes(b"old")
    write_assets(tmp_path / "report")
    assert path.read_bytes() == plotly_bundle()
    assert sorted(p.name for p in path.parent.iterdir()) == ["plotly.min.js"]  # no temporary file left


def test_the_index_is_drawn_again_only_when_a_report_or_the_chart_library_changed(tmp_path: Path, monkeypatch):
    from otc import report

    report_dir, state = tmp_path / "report", tmp_path / "_cache" / "report_index.json"
    entry = {"tier": "OTC", "week_ending": "2025-12-26", "href": "OTC/2025-12-26.html", "batch_id": "b",
             "built_at": "2026-12-01T10:00:00+00:00", "quality_status": "PASS", "symbols": 3, "total_volume": 9}
    drawn = []
    render = report.render_index
    monkeypatch.setattr(report, "render_index", lambda entries: drawn.append(len(entries)) or render(entries))
    report.write_index(report_dir, [entry], state)
    index = report_dir / "index.html"
    assert drawn == [1] and "OTC/2025-12-26.html" in index.read_text()
    assert (report_dir / "plotly.min.js").exists()
    report.write_index(report_dir, [entry], state)
    assert drawn == [1]  # same reports: nothing drawn nor written
    report.write_index(report_dir, [entry, {**entry, "week_ending": "2025-12-19", "href": "OTC/2025-12-19.html"}],
                       state)
    assert drawn == [1, 2] and "OTC/2025-12-19.html" in index.read_text()
    index.unlink()
    report.write_index(report_dir, [entry], state)
    assert drawn == [1, 2, 1] and index.exists()  # a deleted index comes back
    (report_dir / "plotly.min.js").unlink()
    report.write_index(report_dir, [entry], state)
    assert drawn == [1, 2, 1, 1] and (report_dir / "plotly.min.js").exists()
    bundle = tmp_path / "plotly.min.js"
    bundle.write_bytes(b"/* another plotly */")
    monkeypatch.setattr(report, "plotly_bundle_path", lambda: bundle)
    report.write_index(report_dir, [entry], state)  # plotly upgraded: its bundle is copied again
    assert drawn == [1, 2, 1, 1, 1] and (report_dir / "plotly.min.js").read_bytes() == b"/* another plotly */"
    (report_dir / "plotly.min.js").write_bytes(b"/* cut")
    report.write_index(report_dir, [entry], state)  # a damaged copy is copied again
    assert drawn == [1, 2, 1, 1, 1, 1] and (report_dir / "plotly.min.js").read_bytes() == b"/* another plotly */"
    monkeypatch.setattr(report, "index_page_digest", lambda: "another template")
    report.write_index(report_dir, [entry], state)  # the index's templates changed
    assert drawn == [1, 2, 1, 1, 1, 1, 1]


def test_compiled_templates_spare_a_later_process_in_another_build_dir_from_compiling(tmp_path: Path, monkeypatch):
    import jinja2

    from otc import report_html

    shared = tmp_path / "jinja2-default"  # stands for Jinja2's folder under the temp dir
    shared.mkdir(mode=0o700)
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "_get_default_cache_dir", lambda cache: str(shared))
    model = build_report_model(inputs())
    report_html._environment.cache_clear()
    first = render_report(model, "..", tmp_path / "a" / "_cache")
    assert len(list(shared.iterdir())) == 2  # report.html and base.html, compiled
    report_html._environment.cache_clear()  # as in a new process
    compiled = []
    compile_template = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda env, *args, **kwargs: compiled.append(args) or compile_template(env, *args, **kwargs))
    assert render_report(model, "..", tmp_path / "b" / "_cache") == first
    assert compiled == []
    assert not (tmp_path / "a" / "_cache").exists() and not (tmp_path / "b" / "_cache").exists()
    report_html._environment.cache_clear()


def test_a_cache_folder_that_cannot_be_written_costs_a_compilation_not_the_report(tmp_path: Path, monkeypatch):
    import jinja2

    from otc import report_html

    gone = tmp_path / "jinja2-default"
    gone.mkdir(mode=0o700)
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "_get_default_cache_dir", lambda cache: str(gone))
    report_html._environment.cache_clear()
    environment = report_html._environment(None)
    gone.rmdir()  # cleaned by the system after the environment was made
    page = render_report(build_report_model(inputs()), "..")
    assert environment is report_html._environment(None) and "<html" in page
    report_html._environment.cache_clear()


def test_compiled_templates_stay_in_the_build_dir_when_jinjas_folder_is_unsafe(tmp_path: Path, monkeypatch):
    import jinja2

    from otc import report_html

    def unsafe(cache):
        raise RuntimeError("Cannot determine safe temp directory.")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "_get_default_cache_dir", unsafe)
    cache = report_html._bytecode_cache(tmp_path / "_cache")
    assert cache.directory == str(tmp_path / "_cache" / "jinja") and (tmp_path / "_cache" / "jinja").is_dir()
    assert report_html._bytecode_cache(None) is None


def test_chart_specs_have_no_chart_without_data():
    assert venue_share_figure(()) is None
    assert venue_share_figure((VenueSlice("VIRT", 0, Decimal("0.0000"), 1),)) is None
    assert history_figure(History((WEEK,), ())) is None


# --- the fixture backfill, for real ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_build(tmp_path_factory) -> Path:
    """The six fixture weeks built by the real `doit backfill`, once for this module."""
    root = make_project(tmp_path_factory.mktemp("report_fixtures"))
    result = doit(root, "backfill", *FIXTURE_BACKFILL)
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "build"


@pytest.fixture(scope="module")
def fixture_model(fixture_build):
    return build_report_model(read_week(fixture_build, "NMS_TIER_1", WEEK))


def test_fixture_week_counts_and_totals(fixture_model):
    # week_2025-12-26.psv: 12 data lines, all valid; 5 symbols on 4 venues
    m = fixture_model
    assert (m.counts, m.symbol_count, m.venue_count, m.quality_status, m.rejects, m.has_rolling) == (
        Counts(12, 12, 0, 0), 5, 4, "PASS", (), True)
    # shares: 1000500+800000+493300 + 400000+280000 + 629000+500000 + 1560039+1559961 + 600000+600000+380120
    assert m.total_volume == 8_802_920
    # trades: 4000+3200+1900 + 1588+1151 + 4400+3600 + 6180+6305 + 2400+2500+1520
    assert m.total_trades == 38_744
    assert m.batch_id.startswith("backfill_NMS_TIER_1_2025-11-21_2025-12-26_")


def test_fixture_week_top_symbols(fixture_model):
    assert fixture_model.top_symbols == (
        # NVDA: VIRT 1560039 + CDEL 1559961; VIRT's share 100 * 1560039 / 3120000 = 50.00125 -> 50.0013
        SymbolRow(1, "NVDA", 3_120_000, 12_485, 2, Decimal("249.90"), "VIRT", Decimal("50.0013"),
                  3_041_875, "FLAT", Decimal("3.33")),
        # AAPL: NITE 1000500 of 2293800 = 43.6176 %; trend (2200000+2293800 - 1950000-2050000) / 4000000 = 12.345 %
        SymbolRow(2, "AAPL", 2_293_800, 9_100, 3, Decimal("252.07"), "NITE", Decimal("43.6176"),
                  2_132_300, "UP", Decimal("12.35")),
        # TSLA: VIRT and NITE tie at 600000, NITE is the smaller MPID; trend 5.004 -> 5.00, FLAT
        SymbolRow(3, "TSLA", 1_580_120, 6_420, 3, Decimal("246.12"), "NITE", Decimal("37.9718"),
                  1_535_020, "FLAT", Decimal("5.00")),
        # MSFT: NITE 629000 of 1129000; trend (1100000+1129000 - 1230000-1170000) / 2400000 = -7.125 %
        SymbolRow(4, "MSFT", 1_129_000, 8_000, 2, Decimal("141.13"), "NITE", Decimal("55.7130"),
                  1_153_125, "DOWN", Decimal("-7.13")),
        # AMD: CDEL 400000 of 680000 = 58.8235 %; trend (720000+680000 - 950000-850000) / 1800000 = -22.22 %
        SymbolRow(5, "AMD", 680_000, 2_739, 2, Decimal("248.27"), "CDEL", Decimal("58.8235"),
                  793_333, "DOWN", Decimal("-22.22")),
    )


def test_fixture_week_venue_share(fixture_model):
    assert fixture_model.venue_share == (
        VenueSlice("CDEL", 2_759_961, Decimal("31.3528"), 1),  # AAPL 800000 + AMD 400000 + NVDA 1559961
        VenueSlice("VIRT", 2_653_339, Decimal("30.1416"), 1),  # AAPL 493300 + NVDA 1560039 + TSLA 600000
        VenueSlice("NITE", 2_229_500, Decimal("25.3268"), 1),  # AAPL 1000500 + MSFT 629000 + TSLA 600000
        VenueSlice("UBSS", 1_160_120, Decimal("13.1788"), 1),  # AMD 280000 + MSFT 500000 + TSLA 380120
    )  # four venues: no "other venues" slice
    assert sum(s.share_pct for s in fixture_model.venue_share) == Decimal("100.0000")


def test_fixture_week_movers(fixture_model):
    assert fixture_model.movers_up == (Mover("AAPL", Decimal("12.35"), 2_132_300, 6, 2_293_800),)
    assert fixture_model.movers_down == (Mover("AMD", Decimal("-22.22"), 793_333, 6, 680_000),
                                         Mover("MSFT", Decimal("-7.13"), 1_153_125, 6, 1_129_000))


def test_fixture_week_history(fixture_model):
    weeks = tuple(dt.date.fromisoformat(w) for w in
                  ("2025-11-21", "2025-11-28", "2025-12-05", "2025-12-12", "2025-12-19", "2025-12-26"))
    assert fixture_model.history == History(weeks, (
        VolumeSeries("NVDA", (2_900_000, 3_100_000, 3_051_250, 3_000_000, 3_080_000, 3_120_000)),
        VolumeSeries("AAPL", (1_950_000, 2_050_000, 2_120_003, 2_180_000, 2_200_000, 2_293_800)),
        VolumeSeries("TSLA", (1_480_000, 1_520_000, 1_500_000, 1_560_000, 1_570_000, 1_580_120)),
        VolumeSeries("MSFT", (1_230_000, 1_170_000, 1_149_750, 1_140_000, 1_100_000, 1_129_000)),
        VolumeSeries("AMD", (950_000, 850_000, 800_000, 760_000, 720_000, 680_000)),
    ))


def test_fixture_week_checks(fixture_model):
    assert [(c.name, c.category, c.status, c.value) for c in fixture_model.checks] == [
        ("no_negative_volumes", "INTEGRITY", "PASS", "0"),
        ("no_negative_trades", "INTEGRITY", "PASS", "0"),
        ("market_share_sum_100", "BUSINESS_RULE", "PASS", "100.0000"),
        ("no_duplicate_symbols", "INTEGRITY", "PASS", "0"),
        ("symbol_count_positive", "COMPLETENESS", "PASS", "5"),
        ("venue_count_positive", "COMPLETENESS", "PASS", "4"),
        ("rolling_window_complete", "COMPLETENESS", "PASS", "5/5 (100.0%)"),
        ("no_zero_rolling_volume", "INTEGRITY", "PASS", "0"),
    ]


def test_fixture_rejects_of_the_week_with_the_bad_symbol(fixture_build):
    # week_2025-12-05.psv line 7: BAD$YM fails the symbol rule at normalize (that week has no
    # snapshot, so its rejects are read alone: the ingest file's none and normalize's one)
    files = sorted((fixture_build / "otc_rejects" / "NMS_TIER_1").glob("2025-12-05.*.parquet"))
    found = rejects_by_reason(pa.concat_tables([pq.read_table(f) for f in files]))
    assert found == (RejectReason("NORMALIZE", "INVALID_SYMBOL", 1, (
        RejectExample(7, "symbol='BAD$YM'", "2025-12-05|NMS_TIER_1|BAD$YM|VIRT|12345|67"),)),)


def test_fixture_page(fixture_model):
    html = render_report(fixture_model, "..")
    page = Page(html)
    assert page.errors == []
    text = page.plain_text
    for expected in ("1 NVDA 3,120,000 12,485 2 249.90 VIRT 50.00 % 3,041,875 ▶ FLAT +3.33 %",
                     "2 AAPL 2,293,800 9,100 3 252.07 NITE 43.62 % 2,132,300 ▲ UP +12.35 %",
                     "5 AMD 680,000 2,739 2 248.27 CDEL 58.82 % 793,333 ▼ DOWN -22.22 %",
                     "CDEL 2,759,961 31.35 %", "Shares traded 8,802,920", "8 PASS 0 WARN 0 FAIL",
                     "No rejected lines this week."):
        assert expected in text
