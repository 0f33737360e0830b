"""doit wiring: the backfill as file-target tasks. Task functions only declare; `steps` works."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from pathlib import Path
from typing import Any, Callable, Iterator

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from otc import steps
from otc.batch import BatchPlan, finish_batch, summary_block
from otc.errors import ParameterError
from otc.filestate import file_state_checker
from otc.layout import Layout, Stage
from otc.lineage import Batch, batch_id_for, new_execution_id, utc_now
from otc.params import DEFAULT_BUILD_DIR, PARAMETER_NAMES, BackfillParams, parse_backfill_params
from otc.reporting import BackfillReporter
from otc.sources import source_problem
from otc.schemas import CALCULATION_VERSION, INGEST_VERSION, ROLLING_VERSION, SNAPSHOT_VERSION, Table
from otc.tiers import Tier
from otc.weeks import rolling_window

#: Bumped when a stage's rules change: it makes that stage's outputs stale.
STAGE_VERSIONS = {
    Stage.INGEST: INGEST_VERSION,
    Stage.NORMALIZE: CALCULATION_VERSION,
    Stage.AGGREGATE: CALCULATION_VERSION,
    Stage.ROLLING: ROLLING_VERSION,
    Stage.SNAPSHOT: SNAPSHOT_VERSION,
}
BACKFILL_TASK = "backfill"


class UserFailure(TaskFailed):
    """A failure the user caused or must know about: reported as one line, no traceback."""


@dataclasses.dataclass(frozen=True)
class Build:
    """What one doit invocation is asked to do: a valid backfill's tasks, or why there are none."""

    build_dir: Path
    task_dicts: tuple[dict[str, Any], ...]
    stage_task_names: tuple[str, ...]
    no_variables: bool = False
    dep_file: str | None = None  # doit's state; default: inside the build dir

    @classmethod
    def from_vars(cls, get_var: Callable[[str], str | None], today: dt.date | None = None) -> "Build":
        raw = {name: get_var(name) for name in PARAMETER_NAMES}
        now = utc_now()
        build_dir = Path(raw.get("build_dir") or DEFAULT_BUILD_DIR)
        try:  # doit opens its state there before any task runs
            build_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"Cannot use build_dir {build_dir}: {exc.strerror or exc}"
            return cls(build_dir, (_backfill_task(_fail(problem), [], ""),), (), dep_file=":memory:")
        try:
            params = parse_backfill_params(raw, today or dt.date.today())
        except ParameterError as exc:
            no_variables = all(value is None for name, value in raw.items() if name != "build_dir")
            return cls(build_dir, (_backfill_task(_fail(str(exc)), [], ""),), (), no_variables)
        layout = Layout(params.build_dir)
        batch_id = batch_id_for(params.tier, params.start_week, params.end_week, now,
                                taken=lambda b: layout.batch_file(b).exists())
        batch = Batch(batch_id, new_execution_id(), now)
        task_dicts = tuple(backfill_tasks(params, batch))
        names = tuple(f"{t['basename']}:{t['name']}" for t in task_dicts if t.get("name"))
        return cls(params.build_dir, task_dicts, names)

    def doit_config(self) -> dict[str, Any]:
        """doit's settings; its state lives in the build dir so two build dirs never share it.

        Bare `doit forget` forgets the default tasks: with a backfill's variables, every stage
        of it; with none, doit cannot know the tasks, so it forgets everything it recorded.
        """
        config: dict[str, Any] = {
            "default_tasks": [*self.stage_task_names, BACKFILL_TASK],
            "dep_file": self.dep_file or str(Layout(self.build_dir).doit_db),
            "backend": "sqlite3",
            "check_file_uptodate": file_state_checker(self.build_dir),
            "reporter": BackfillReporter,
        }
        if self.no_variables:
            config["forget_all"] = True
        return config

    def tasks(self) -> Iterator[dict[str, Any]]:
        yield from self.task_dicts


def backfill_tasks(params: BackfillParams, batch: Batch) -> Iterator[dict[str, Any]]:
    """Every stage task of the backfill, then the `backfill` task that reports on them."""
    layout = Layout(params.build_dir)
    tier = params.tier
    missing: dict[str, str] = {}
    sources: dict[dt.date, str] = {}
    names: list[str] = []
    # Options that change results, passed down the chain with the sources so that
    # `doit list --status` marks every stage a change will re-run, not only the first.
    options = {"reject_zero_volume": params.reject_zero_volume}
    for stage, doc in _GROUP_DOCS.items():
        yield {"basename": stage.value, "name": None, "doc": doc}
    for week in params.weeks:
        source = params.source_path(week)
        problem = source_problem(source)
        if problem:
            missing[week.isoformat()] = problem
            continue
        sources[week] = str(source)
        job = steps.WeekJob(tier, week, layout, source, params.reject_zero_volume)
        for task in _week_tasks(job, batch, options, params.force):
            names.append(f"{task['basename']}:{task['name']}")
            yield task

    last = params.end_week
    window = tuple(rolling_window(last))
    job = steps.WindowJob(tier, last, layout, window, with_rolling=not params.skip_rolling)
    summary_weeks = [w for w in window if w in sources or _summary(layout, tier, w).exists()]
    # A window's tasks depend on the source of each of its weeks that has a usable file, in the
    # range or not: the same files on disk always give the same file_dep, whatever the range.
    @functools.cache
    def usable_source(week: dt.date) -> str | None:
        if week in sources:
            return sources[week]
        return str(params.source_path(week)) if source_problem(params.source_path(week)) is None else None

    def window_sources(weeks: tuple[dt.date, ...]) -> list[str]:
        return [path for path in map(usable_source, weeks) if path]

    rolling_planned = not params.skip_rolling and bool(summary_weeks)
    snapshot_planned = not params.skip_snapshot and (last in sources or _summary(layout, tier, last).exists())
    unplanned = {}
    if rolling_planned:
        task = _rolling_task(job, batch, summary_weeks, window_sources(window), options, params.force)
        names.append(f"{task['basename']}:{task['name']}")
        yield task
    elif not params.skip_rolling:
        unplanned[Stage.ROLLING.value] = f"no weekly summary in the 6-week window ending {last}"
    if snapshot_planned:
        task = _snapshot_task(job, batch, window_sources(window), options, params.force)
        names.append(f"{task['basename']}:{task['name']}")
        yield task
    elif not params.skip_snapshot:
        unplanned[Stage.SNAPSHOT.value] = f"no summary for {last}, the range's last week"
    refreshed = []
    for task in _earlier_window_tasks(layout, tier, last, set(sources), window_sources, batch, options,
                                      params.force):
        names.append(f"{task['basename']}:{task['name']}")
        refreshed.append(names[-1])
        yield task
    plan = BatchPlan(params, batch, missing, rolling_planned, snapshot_planned, unplanned, tuple(refreshed))
    yield _backfill_task((report, [plan]), names, f"{tier.value} {params.start_week}..{params.end_week}",
                         params.build_dir)


def report(plan: BatchPlan) -> dict[str, Any] | TaskFailed:
    """Write the batch file and manifest, print the summary block; fail when no week was processed."""
    outcome = finish_batch(plan)
    print(summary_block(outcome))
    if not outcome.succeeded:
        return UserFailure("Backfill FAILED: no week was processed")
    return {"status": outcome.status}


_GROUP_DOCS = {
    Stage.INGEST: "Parse a tier-week's source file into otc_raw and INGEST rejects.",
    Stage.NORMALIZE: "Accept or reject each raw record into otc_venue_volume.",
    Stage.AGGREGATE: "Summarise a tier-week per symbol and venue, with quality checks.",
    Stage.ROLLING: "6-week rolling averages and trends for the range's last week.",
    Stage.SNAPSHOT: "Research snapshot for the range's last week.",
}


def _earlier_window_tasks(
    layout: Layout, tier: Tier, last: dt.date, building: set[dt.date],
    window_sources: Callable[[tuple[dt.date, ...]], list[str]], batch: Batch, options: dict[str, Any],
    force: bool,
) -> Iterator[dict[str, Any]]:
    """Rolling and snapshot of earlier range ends whose window holds a week this run builds.

    They read this run's summaries, so they are tasks too: a changed source re-runs every
    rolling and snapshot that reads it, not only the current range's.
    """
    rolled = set(layout.record_weeks(Stage.ROLLING, tier))
    snapped = set(layout.record_weeks(Stage.SNAPSHOT, tier))
    for week in sorted((rolled | snapped) - {last}):
        window = tuple(rolling_window(week))
        if not building.intersection(window):
            continue
        snapshot = steps.read_record(layout, Stage.SNAPSHOT, tier, week)
        with_rolling = week in rolled and (
            snapshot is None or snapshot["execution"]["params"].get("with_rolling", True))
        job = steps.WindowJob(tier, week, layout, window, with_rolling=with_rolling)
        if week in rolled:
            summary_weeks = [w for w in window if w in building or _summary(layout, tier, w).exists()]
            yield _rolling_task(job, batch, summary_weeks, window_sources(window), options, force)
        if week in snapped:
            yield _snapshot_task(job, batch, window_sources(window), options, force)


def _week_tasks(
    job: steps.WeekJob, batch: Batch, options: dict[str, Any], force: bool
) -> Iterator[dict[str, Any]]:
    layout, tier, week = job.layout, job.tier, job.week
    source = str(job.source_path)
    upstream = {
        Stage.INGEST: [source],
        Stage.NORMALIZE: [source, *_outputs(layout, Stage.INGEST, tier, week)],
        Stage.AGGREGATE: [source, *_outputs(layout, Stage.NORMALIZE, tier, week)],
    }
    runners = {Stage.INGEST: steps.run_ingest, Stage.NORMALIZE: steps.run_normalize,
               Stage.AGGREGATE: steps.run_aggregate}
    for stage, runner in runners.items():
        settings = {} if stage is Stage.INGEST else options
        yield _stage_task(stage, job, runner, batch, upstream[stage], _outputs(layout, stage, tier, week),
                          settings, force)


def _rolling_task(
    job: steps.WindowJob, batch: Batch, summary_weeks: list[dt.date], sources: list[str],
    options: dict[str, Any], force: bool,
) -> dict[str, Any]:
    layout, tier = job.layout, job.tier
    inputs = list(sources)
    for week in summary_weeks:
        inputs += [str(_summary(layout, tier, week)), str(layout.record_file(Stage.AGGREGATE, tier, week))]
    settings = {**options, "window": [w.isoformat() for w in job.window]}
    return _stage_task(Stage.ROLLING, job, steps.run_rolling, batch, inputs,
                       _outputs(layout, Stage.ROLLING, tier, job.week), settings, force)


def _snapshot_task(
    job: steps.WindowJob, batch: Batch, sources: list[str], options: dict[str, Any], force: bool
) -> dict[str, Any]:
    layout, tier, week = job.layout, job.tier, job.week
    inputs = [
        *sources,
        str(_summary(layout, tier, week)),
        str(layout.table_file(Table.QUALITY_CHECKS, tier, week, Stage.AGGREGATE)),
        str(layout.table_file(Table.VENUE_VOLUME, tier, week, Stage.NORMALIZE)),
        str(layout.record_file(Stage.AGGREGATE, tier, week)),
    ]
    if job.with_rolling:
        inputs += _outputs(layout, Stage.ROLLING, tier, week)
    settings = {**options, "with_rolling": job.with_rolling}
    return _stage_task(Stage.SNAPSHOT, job, steps.run_snapshot, batch, inputs,
                       _outputs(layout, Stage.SNAPSHOT, tier, week), settings, force)


def _outputs(layout: Layout, stage: Stage, tier: Tier, week: dt.date) -> list[str]:
    """A stage's targets: its tables and its record."""
    files = [*layout.outputs(stage, tier, week).values(), layout.record_file(stage, tier, week)]
    return [str(p) for p in files]


def _summary(layout: Layout, tier: Tier, week: dt.date) -> Path:
    return layout.table_file(Table.SYMBOL_SUMMARY, tier, week, Stage.AGGREGATE)


def _stage_task(
    stage: Stage, job: steps.WeekJob | steps.WindowJob, runner: Callable[..., Any], batch: Batch,
    file_dep: list[str], targets: list[str], options: dict[str, Any], force: bool,
) -> dict[str, Any]:
    tier, week = job.tier.value, job.week
    # The batch id travels in the action's arguments, never in `uptodate`: a new run of the
    # same inputs, rules and options is up to date.
    settings = {"stage": stage.value, "version": STAGE_VERSIONS[stage], "tier": tier,
                "week_ending": week.isoformat(), **options}
    uptodate: list[Any] = [config_changed(settings)]
    if force:
        uptodate.append(False)
    return {
        "basename": stage.value,
        "name": f"{tier}:{week.isoformat()}",
        "doc": f"{_GROUP_DOCS[stage]} ({tier} {week.isoformat()})",
        "actions": [(runner, [job, batch])],
        "file_dep": file_dep,
        "targets": targets,
        "uptodate": uptodate,
        "clean": True,
        "meta": {"build_dir": str(job.layout.build_dir)},
    }


def _backfill_task(action: tuple, task_dep: list[str], what: str, build_dir: Path | None = None) -> dict[str, Any]:
    return {
        "basename": BACKFILL_TASK,
        "doc": "Backfill a tier's weeks: ingest, normalize, aggregate, rolling 6w, snapshot"
        + (f" ({what})" if what else ""),
        "actions": [action],
        "task_dep": task_dep,
        "uptodate": [False],
        "verbosity": 2,
        "meta": {"build_dir": str(build_dir)} if build_dir else {},
    }


def _fail(message: str) -> tuple:
    return (_return_failure, [message])


def _return_failure(message: str) -> TaskFailed:
    return UserFailure(message)
