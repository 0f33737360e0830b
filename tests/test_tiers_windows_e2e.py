"""Several tiers in one invocation, and a rolling window for every week (`windows=all`), end to end."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from doit_helpers import FIXTURE_WEEKS, FIXTURES, PROJECT, doit, metrics, stage_lines, table_contents

TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
SCALE = {"NMS_TIER_1": 1, "NMS_TIER_2": 3, "OTC": 7}  # each tier's volumes differ
RANGE = ["start_week=2025-11-21", "end_week=2025-12-26", "source_dir=data/{tier}"]


def write_tier_fixtures(root: Path, tiers=TIERS, weeks=FIXTURE_WEEKS) -> None:
    """The bundled fixture weeks, rewritten for each tier with its volumes scaled."""
    for tier in tiers:
        folder = root / "data" / tier.lower()
        folder.mkdir(parents=True, exist_ok=True)
        for week in weeks:
            lines = (FIXTURES / f"week_{week}.psv").read_text().splitlines()
            out = [lines[0]]
            for line in lines[1:]:
                fields = line.split("|")
                if len(fields) == 6 and fields[1] == "NMS_TIER_1" and fields[4].lstrip("-").isdigit():
                    fields[1] = tier
                    fields[4] = str(int(fields[4]) * SCALE[tier])
                out.append("|".join(fields))
            (folder / f"week_{week}.psv").write_text("\n".join(out) + "\n")


def new_project(root: Path, **kwargs) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "dodo.py", root / "dodo.py")
    write_tier_fixtures(root, **kwargs)
    return root


@pytest.fixture(scope="module")
def all_tiers(tmp_path_factory) -> tuple[Path, str]:
    root = new_project(tmp_path_factory.mktemp("tiers") / "p")
    result = doit(root, "backfill", "tier=all", *RANGE, "skip_report=true")
    assert result.returncode == 0, result.stdout + result.stderr
    return root, result.stdout


def blocks(stdout: str) -> list[dict[str, str]]:
    parts = stdout.split("Pipeline: otc.backfill_range")[1:]
    return [metrics("Pipeline: otc.backfill_range" + part) for part in parts]


def test_tier_all_runs_each_tier_as_its_own_backfill(all_tiers):
    root, stdout = all_tiers
    found = blocks(stdout)
    assert [b["tier"] for b in found] == list(TIERS)
    assert all(b["status"] == "COMPLETED" and b["weeks_processed"] == "6" for b in found)
    for block in found:
        assert block["batch_id"].startswith(f"backfill_{block['tier']}_2025-11-21_2025-12-26_")
    assert "Tiers: 3 of 3 COMPLETED (NMS_TIER_1, NMS_TIER_2, OTC)" in stdout
    batches = [json.loads(p.read_text()) for p in sorted((root / "build/batches").glob("*.json"))]
    assert sorted(b["params"]["tier"] for b in batches) == sorted(TIERS)
    for batch in batches:  # lineage stays within the tier's own batch
        assert {e["batch_id"] for e in batch["executions"]} == {batch["batch_id"]}


def test_each_tiers_tables_equal_a_one_tier_run(all_tiers, tmp_path: Path):
    root, _ = all_tiers
    alone = new_project(tmp_path / "alone", tiers=("NMS_TIER_2",))
    result = doit(alone, "backfill", "tier=nms-tier-2", *RANGE, "skip_report=true")
    assert result.returncode == 0, result.stderr
    together = {name: [r for r in rows if r["tier"] == "NMS_TIER_2"] for name, rows in table_contents(root / "build").items()}
    assert table_contents(alone / "build") == together
    volumes = {t: sum(r["total_volume"] for r in table_contents(root / "build")["otc_symbol_summary"] if r["tier"] == t)
               for t in TIERS}
    assert volumes["NMS_TIER_2"] == 3 * volumes["NMS_TIER_1"] and volumes["OTC"] == 7 * volumes["NMS_TIER_1"]


def test_parallel_tiers_give_the_same_tables_as_serial(all_tiers, tmp_path: Path):
    root, _ = all_tiers
    parallel = new_project(tmp_path / "parallel")
    result = doit(parallel, "-n", "2", "-P", "process", "backfill", "tier=all", *RANGE, "skip_report=true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert table_contents(parallel / "build") == table_contents(root / "build")


def test_a_tier_without_files_fails_alone_and_the_exit_is_non_zero(tmp_path: Path):
    root = new_project(tmp_path / "p", tiers=("NMS_TIER_1",))
    result = doit(root, "backfill", "tier=NMS_TIER_1,OTC", *RANGE, "skip_report=true")
    assert result.returncode != 0
    found = {b["tier"]: b for b in blocks(result.stdout)}
    assert found["NMS_TIER_1"]["status"] == "COMPLETED" and found["OTC"]["status"] == "FAILED"
    assert "Source file not found: data/otc/week_2025-11-21.psv" in found["OTC"]["errors"]
    assert "Tiers: 1 of 2 COMPLETED (NMS_TIER_1); FAILED: OTC" in result.stdout


def test_several_tiers_need_tier_in_source_dir(tmp_path: Path):
    root = new_project(tmp_path / "p", tiers=("NMS_TIER_1",))
    result = doit(root, "backfill", "tier=all", "weeks_back=1", "as_of=2025-12-26", "source_dir=data/one")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(
        "ERROR: With several tiers, source_dir must hold {tier} (their week files would collide)")


# --- windows=all ------------------------------------------------------------------------------

WEEKS = [dt.date.fromisoformat(w) for w in FIXTURE_WEEKS]


def reference_rolling(summaries: list[dict], week: dt.date) -> dict[str, dict]:
    """The rolling rules, written as a plain loop over the window's weekly summaries."""
    window = [week - dt.timedelta(weeks=i) for i in range(5, -1, -1)]
    by_symbol: dict[str, list[tuple[dt.date, int, int]]] = {}
    for row in summaries:
        if row["week_ending"] in window:
            by_symbol.setdefault(row["symbol"], []).append((row["week_ending"], row["total_volume"], row["total_trades"]))
    out = {}
    for symbol, rows in by_symbol.items():
        rows.sort()
        volumes = [v for _, v, _ in rows]
        n = len(rows)
        if n < 2:
            first = last = None
        elif n == 2:
            first, last = Decimal(volumes[0]), Decimal(volumes[1])
        else:
            first, last = Decimal(volumes[0] + volumes[1]) / 2, Decimal(volumes[-2] + volumes[-1]) / 2
        if first is None:
            pct, direction = Decimal("0.00"), "FLAT"
        elif first == 0:
            pct, direction = (Decimal("100.00"), "UP") if last > 0 else (Decimal("0.00"), "FLAT")
        else:
            pct = ((last - first) / first * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            direction = "UP" if pct > 5 else "DOWN" if pct < -5 else "FLAT"
        out[symbol] = {"avg_6w_volume": sum(volumes) // n, "avg_6w_trades": sum(t for _, _, t in rows) // n,
                       "weeks_in_window": n, "is_complete_window": n == 6, "trend_direction": direction,
                       "trend_pct": pct}
    return out


@pytest.fixture(scope="module")
def every_window(tmp_path_factory) -> Path:
    root = new_project(tmp_path_factory.mktemp("windows") / "p", tiers=("NMS_TIER_1",))
    result = doit(root, "backfill", "tier=NMS_TIER_1", *RANGE, "windows=all")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_windows_all_gives_every_week_its_own_window(every_window: Path):
    build = every_window / "build"
    summaries = ds.dataset(build / "otc_symbol_summary").to_table().to_pylist()
    rolling = ds.dataset(build / "otc_symbol_rolling_6w").to_table().to_pylist()
    snapshot = ds.dataset(build / "otc_research_snapshot").to_table().to_pylist()
    assert sorted({r["week_ending"] for r in rolling}) == WEEKS
    assert sorted({r["week_ending"] for r in snapshot}) == WEEKS
    for week in WEEKS:  # the first weeks have fewer than 6 weeks of history
        expected = reference_rolling(summaries, week)
        got = {r["symbol"]: {k: r[k] for k in next(iter(expected.values()))} for r in rolling if r["week_ending"] == week}
        assert got == expected, week
    first = [r for r in rolling if r["week_ending"] == WEEKS[0]]
    assert {r["weeks_in_window"] for r in first} == {1}
    assert (every_window / "build/report/NMS_TIER_1/2025-11-21.html").exists()
    index = (every_window / "build/report/index.html").read_text()
    assert all(f"NMS_TIER_1/{w}.html" in index for w in FIXTURE_WEEKS)


def test_a_new_week_adds_its_window_and_refreshes_only_windows_that_hold_it(tmp_path: Path):
    root = new_project(tmp_path / "p", tiers=("NMS_TIER_1",), weeks=FIXTURE_WEEKS[:5])
    first = doit(root, "backfill", "tier=NMS_TIER_1", "start_week=2025-11-21", "end_week=2025-12-19",
                 "source_dir=data/{tier}", "windows=all", "skip_report=true")
    assert first.returncode == 0, first.stderr
    write_tier_fixtures(root, tiers=("NMS_TIER_1",), weeks=FIXTURE_WEEKS[5:])
    second = doit(root, "backfill", "tier=NMS_TIER_1", *RANGE, "windows=all", "skip_report=true")
    assert sorted(stage_lines(second.stdout)) == sorted(
        [f"{s}:NMS_TIER_1:2025-12-26" for s in ("ingest", "normalize", "aggregate", "rolling", "snapshot")])


def test_a_changed_week_reruns_exactly_the_windows_that_read_it(every_window: Path, tmp_path: Path):
    root = Path(shutil.copytree(every_window, tmp_path / "p", symlinks=True))
    source = root / "data/nms_tier_1/week_2025-12-05.psv"
    source.write_text(source.read_text() + "2025-12-05|NMS_TIER_1|ZZZZ|NITE|1000|10\n")
    result = doit(root, "backfill", "tier=NMS_TIER_1", *RANGE, "windows=all")
    assert result.returncode == 0, result.stderr
    later = ["2025-12-05", "2025-12-12", "2025-12-19", "2025-12-26"]
    assert sorted(stage_lines(result.stdout)) == sorted(
        [f"{s}:NMS_TIER_1:2025-12-05" for s in ("ingest", "normalize", "aggregate")]
        + [f"{s}:NMS_TIER_1:{w}" for s in ("rolling", "snapshot", "report") for w in later])
