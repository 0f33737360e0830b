"""Backfill parameters: validation messages, week lists, tiers and Fridays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from otc.errors import ParameterError
from otc.params import parse_backfill_params
from otc.tiers import Tier
from otc.weeks import friday_of

TODAY = dt.date(2025, 12, 26)
D = dt.date


def parse(today: dt.date = TODAY, **raw: str | None):
    return parse_backfill_params({"source_dir": "src", **raw}, today, latest=today)  # as_of=latest: today


def error_of(**raw: str | None) -> str:
    with pytest.raises(ParameterError) as excinfo:
        parse(**raw)
    return str(excinfo.value)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"weeks_back": "6"}, id="absent"),
        pytest.param({"tier": None, "weeks_back": "6"}, id="none"),
        pytest.param({"tier": "", "weeks_back": "6"}, id="empty"),
        pytest.param({"tier": "   ", "weeks_back": "6"}, id="blank"),
        pytest.param({}, id="absent-and-no-weeks-either"),
    ],
)
def test_missing_tier_is_reported_first(raw):
    assert error_of(**raw).splitlines()[0] == "Missing required parameter: tier"


@pytest.mark.parametrize("value", ["NMS_TIER_3", "T3", "tier1", "OTC_MARKETS"])
def test_bad_tier_names_the_value_and_lists_valid_tiers(value):
    message = error_of(tier=value, weeks_back="6")

    assert value in message
    for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC"):
        assert tier in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0", id="zero"),
        pytest.param("-1", id="negative"),
        pytest.param("x", id="letters"),
        pytest.param("1.5", id="fraction"),
        pytest.param("", id="empty"),
        pytest.param(" ", id="blank"),
        pytest.param("6 weeks", id="with-unit"),
        pytest.param("²", id="superscript-digit"),
    ],
)
def test_weeks_back_must_be_a_positive_integer(value):
    assert error_of(tier="NMS_TIER_1", weeks_back=value) == "weeks_back must be a positive integer"


def test_weeks_back_reaching_before_year_one_is_a_parameter_error_not_a_crash():
    with pytest.raises(ParameterError):
        parse(tier="NMS_TIER_1", weeks_back="1000000")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({}, id="neither"),
        pytest.param({"start_week": "2025-11-21"}, id="only-start"),
        pytest.param({"end_week": "2025-12-26"}, id="only-end"),
    ],
)
def test_week_specification_is_required(raw):
    assert error_of(tier="NMS_TIER_1", **raw) == (
        "Must specify either weeks_back OR both start_week and end_week"
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"weeks_back": "6", "start_week": "2025-11-21", "end_week": "2025-12-26"}, id="all-three"),
        pytest.param({"weeks_back": "6", "start_week": "2025-11-21"}, id="weeks-back-and-start"),
        pytest.param({"weeks_back": "6", "end_week": "2025-12-26"}, id="weeks-back-and-end"),
    ],
)
def test_both_week_forms_together_are_refused(raw):
    message = error_of(tier="NMS_TIER_1", **raw)

    assert "weeks_back" in message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            {"start_week": "2025-12-25", "end_week": "2025-12-26"},
            "start_week must be a Friday, got 2025-12-25 (Thursday). Nearest Friday: 2025-12-26",
            id="start-thursday",
        ),
        pytest.param(
            {"start_week": "2025-11-21", "end_week": "2025-12-27"},
            "end_week must be a Friday, got 2025-12-27 (Saturday). Nearest Friday: 2026-01-02",
            id="end-saturday",
        ),
        pytest.param(
            {"start_week": "2025-12-20", "end_week": "2025-12-26"},
            "start_week must be a Friday, got 2025-12-20 (Saturday). Nearest Friday: 2025-12-26",
            id="start-saturday-belongs-to-following-friday",
        ),
        pytest.param(
            {"start_week": "2025-12-26", "end_week": "2025-11-21"},
            "start_week (2025-12-26) must be <= end_week (2025-11-21)",
            id="start-after-end",
        ),
    ],
)
def test_range_errors_have_exact_messages(raw, message):
    assert error_of(tier="NMS_TIER_1", **raw) == message


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        pytest.param({"start_week": "2025-13-01", "end_week": "2025-12-26"}, "start_week", id="start-bad-month"),
        pytest.param({"start_week": "next week", "end_week": "2025-12-26"}, "start_week", id="start-text"),
        pytest.param({"start_week": "2025-11-21", "end_week": "2025/12/26"}, "end_week", id="end-slashes"),
        pytest.param({"weeks_back": "2", "as_of": "yesterday"}, "as_of", id="as-of-text"),
    ],
)
def test_unparseable_dates_name_the_parameter(raw, name):
    message = error_of(tier="NMS_TIER_1", **raw)

    assert message.startswith(name)


@pytest.mark.parametrize("flag", ["force", "skip_rolling", "skip_snapshot", "reject_zero_volume"])
@pytest.mark.parametrize("value", ["maybe", "2", "on?"])
def test_bad_boolean_flag_names_the_flag_and_value(flag, value):
    message = error_of(tier="NMS_TIER_1", weeks_back="1", **{flag: value})

    assert flag in message
    assert value in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("true", True, id="true"),
        pytest.param("TRUE", True, id="upper-true"),
        pytest.param("1", True, id="one"),
        pytest.param("yes", True, id="yes"),
        pytest.param("false", False, id="false"),
        pytest.param("False", False, id="title-false"),
        pytest.param("0", False, id="zero"),
        pytest.param("no", False, id="no"),
    ],
)
@pytest.mark.parametrize("flag", ["force", "skip_rolling", "skip_snapshot", "reject_zero_volume"])
def test_boolean_flags_accept_usual_spellings(flag, value, expected):
    params = parse(tier="NMS_TIER_1", weeks_back="1", **{flag: value})

    assert getattr(params, flag) is expected


def test_flags_default_to_false_and_paths_to_their_defaults():
    params = parse(tier="NMS_TIER_1", weeks_back="1")

    assert (params.force, params.skip_rolling, params.skip_snapshot, params.reject_zero_volume) == (
        False, False, False, False,
    )
    assert params.build_dir == Path("build")
    assert params.source_dir == Path("src")
    assert params.source_path(D(2025, 12, 26)) == Path("src/week_2025-12-26.psv")


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("week.psv", id="no-placeholder"),
        pytest.param("week_{week}.psv", id="other-placeholder"),
        pytest.param("week_{}.psv", id="positional-placeholder"),
    ],
)
def test_file_pattern_must_use_week_ending(pattern):
    message = error_of(tier="NMS_TIER_1", weeks_back="1", file_pattern=pattern)

    assert "file_pattern" in message
    assert "{week_ending}" in message


def test_custom_file_pattern_names_each_weeks_file():
    params = parse(tier="NMS_TIER_1", weeks_back="1", file_pattern="otc_{week_ending}_t1.txt")

    assert params.source_path(D(2025, 12, 19)) == Path("src/otc_2025-12-19_t1.txt")


# `doit backfill name=value ...` prints exactly `ERROR: <message>` on stderr for each of these
# and exits non-zero. Their messages are checked here, in-process, from the same `name=value`
# strings; test_backfill_e2e.py runs the real command for a few of them.
@pytest.mark.parametrize("args, message", [
    pytest.param([], "Missing required parameter: tier", id="no-tier"),
    pytest.param(["tier=NMS_TIER_9", "weeks_back=6"],
                 "Invalid tier: 'NMS_TIER_9'. Valid tiers: NMS_TIER_1, NMS_TIER_2, OTC", id="bad-tier"),
    pytest.param(["tier=OTC"], "Must specify either weeks_back OR both start_week and end_week", id="no-weeks"),
    pytest.param(["tier=OTC", "weeks_back=0"], "weeks_back must be a positive integer", id="weeks-back-zero"),
    pytest.param(["tier=OTC", "weeks_back=x"], "weeks_back must be a positive integer", id="weeks-back-text"),
    pytest.param(["tier=OTC", "start_week=2025-11-21"],
                 "Must specify either weeks_back OR both start_week and end_week", id="start-only"),
    pytest.param(["tier=OTC", "start_week=2025-12-25", "end_week=2025-12-26"],
                 "start_week must be a Friday, got 2025-12-25 (Thursday). Nearest Friday: 2025-12-26",
                 id="start-not-friday"),
    pytest.param(["tier=OTC", "start_week=2025-12-26", "end_week=2025-11-21"],
                 "start_week (2025-12-26) must be <= end_week (2025-11-21)", id="start-after-end"),
    pytest.param(["tier=OTC", "weeks_back=2", "start_week=2025-11-21", "end_week=2025-12-26"],
                 "Specify either weeks_back OR start_week and end_week, not both", id="both-forms"),
    pytest.param(["tier=OTC", "start_week=0001-01-05", "end_week=0001-01-05"],
                 "The 6-week window ending 0001-01-05 starts before year 1", id="window-before-year-one"),
])
def test_command_line_parameter_errors_are_exact_one_line_messages(args, message):
    raw = dict(arg.split("=", 1) for arg in args)

    assert error_of(**raw).splitlines()[0] == message


# --- week lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks_back", "as_of", "expected"),
    [
        pytest.param("6", "2025-12-26", [D(2025, 11, 21), D(2025, 11, 28), D(2025, 12, 5),
                                         D(2025, 12, 12), D(2025, 12, 19), D(2025, 12, 26)],
                     id="six-back-from-friday"),
        pytest.param("2", "2025-12-27", [D(2025, 12, 26), D(2026, 1, 2)], id="saturday-starts-next-week"),
        pytest.param("1", "2025-12-25", [D(2025, 12, 26)], id="thursday-ends-that-friday"),
        pytest.param("1", "2025-12-20", [D(2025, 12, 26)], id="saturday-week-start"),
        pytest.param("3", "2026-01-01", [D(2025, 12, 19), D(2025, 12, 26), D(2026, 1, 2)],
                     id="across-year-end"),
        pytest.param(" 2 ", "2025-12-26", [D(2025, 12, 19), D(2025, 12, 26)], id="padded-count"),
    ],
)
def test_weeks_back_lists_fridays_oldest_first(weeks_back, as_of, expected):
    params = parse(tier="NMS_TIER_1", weeks_back=weeks_back, as_of=as_of)

    assert list(params.weeks) == expected
    assert (params.start_week, params.end_week) == (expected[0], expected[-1])


def test_as_of_defaults_to_today():
    params = parse(today=D(2025, 12, 24), tier="NMS_TIER_1", weeks_back="2")

    assert params.weeks == (D(2025, 12, 19), D(2025, 12, 26))
    assert params.as_of == D(2025, 12, 24)
    assert params.weeks_back == 2


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param("2025-11-21", "2025-12-26", [D(2025, 11, 21), D(2025, 11, 28), D(2025, 12, 5),
                                                  D(2025, 12, 12), D(2025, 12, 19), D(2025, 12, 26)],
                     id="six-weeks-inclusive"),
        pytest.param("2025-12-26", "2025-12-26", [D(2025, 12, 26)], id="single-week"),
        pytest.param("2025-12-26", "2026-01-09", [D(2025, 12, 26), D(2026, 1, 2), D(2026, 1, 9)],
                     id="across-year-end"),
    ],
)
def test_start_end_range_is_inclusive(start, end, expected):
    params = parse(tier="NMS_TIER_1", start_week=start, end_week=end)

    assert list(params.weeks) == expected
    assert params.weeks_back is None


def test_tier_parameter_accepts_aliases():
    assert parse(tier="nms tier 2", weeks_back="1").tier is Tier.NMS_TIER_2


# --- tiers and Fridays -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        pytest.param("NMS_TIER_1", Tier.NMS_TIER_1, id="canonical"),
        pytest.param("nms-tier-1", Tier.NMS_TIER_1, id="lower-dashes"),
        pytest.param("NMS Tier 1", Tier.NMS_TIER_1, id="spaces"),
        pytest.param(" nms_tier_1 ", Tier.NMS_TIER_1, id="padded"),
        pytest.param("T1", Tier.NMS_TIER_1, id="finra-t1"),
        pytest.param("t1", Tier.NMS_TIER_1, id="finra-t1-lower"),
        pytest.param("NMS_TIER_2", Tier.NMS_TIER_2, id="tier-2"),
        pytest.param("T2", Tier.NMS_TIER_2, id="finra-t2"),
        pytest.param("OTCE", Tier.OTC, id="finra-otce"),
        pytest.param("otc", Tier.OTC, id="otc-lower"),
        pytest.param("OTC", Tier.OTC, id="otc"),
    ],
)
def test_tier_parse_accepts_spellings_and_finra_labels(text, tier):
    assert Tier.parse(text) is tier


@pytest.mark.parametrize("text", ["", "T3", "NMS TIER", "OTC E", "NMS_TIER_1X"])
def test_tier_parse_rejects_anything_else(text):
    with pytest.raises(ParameterError, match="NMS_TIER_1, NMS_TIER_2, OTC"):
        Tier.parse(text)


@pytest.mark.parametrize(
    ("day", "friday"),
    [
        pytest.param(D(2025, 12, 20), D(2025, 12, 26), id="saturday"),
        pytest.param(D(2025, 12, 21), D(2025, 12, 26), id="sunday"),
        pytest.param(D(2025, 12, 22), D(2025, 12, 26), id="monday"),
        pytest.param(D(2025, 12, 23), D(2025, 12, 26), id="tuesday"),
        pytest.param(D(2025, 12, 24), D(2025, 12, 26), id="wednesday"),
        pytest.param(D(2025, 12, 25), D(2025, 12, 26), id="thursday"),
        pytest.param(D(2025, 12, 26), D(2025, 12, 26), id="friday"),
        pytest.param(D(2025, 12, 27), D(2026, 1, 2), id="next-saturday"),
        pytest.param(D(2024, 2, 29), D(2024, 3, 1), id="leap-day"),
    ],
)
def test_friday_of_closes_the_saturday_to_friday_week(day, friday):
    assert friday_of(day) == friday
