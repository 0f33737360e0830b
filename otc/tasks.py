"""doit wiring: a stage declaration and a job become a task; a backfill becomes the tasks of its tiers.

Task functions only declare; `otc.runner.run_stage` does the work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Iterator

from doit.exceptions import TaskFailed
from doit.dependency import UptodateCalculator
from doit.tools import config_changed

from otc.batch import BatchPlan, finish_batch, finish_run, summary_block
from otc.filestate import SourceUnchanged
from otc.layout import Layout, Stage
from otc.lineage import Batch
from otc.params import BackfillParams
from otc.reporting import UserFailure
from otc.schemas import Table
from otc.runner import StageJob, active_reads, read_record, run_stage
from otc.sources import source_problem
from otc.stage import Artifact, Options, StageSpec
from otc.stages import RANGE_END_STAGES, SPECS, WEEK_CHAIN, upstream_options
from otc.tiers import Tier
from otc.weeks import WINDOW_WEEKS

BACKFILL_TASK = "backfill"
BACKFILL_DOC = "Backfill tiers' weeks: fetch, ingest, normalize, aggregate, rolling 6w, snapshot, report"
BATCH_TASK = "batch"


@dataclasses.dataclass(frozen=True)
class TierPlan:
    """One tier's backfill as the planner saw it: its parameters, batch, and what cannot run."""

    params: BackfillParams
    batch: Batch
    range_reason: str = ""
    missing: dict[dt.date, str] = dataclasses.field(default_factory=dict)  # week -> why it has no tasks
    fetches: dict[dt.date, str] = dataclasses.field(default_factory=dict)  # week -> base URL to fetch from


def stage_task(spec: StageSpec, job: StageJob, batch: Batch, force: bool, planned: "Planned") -> dict[str, Any]:
    """The doit task of one stage for one job: derived from the declaration only."""
    tier, week, layout = job.tier, job.week, job.layout
    file_dep: list[str] = []
    for read in active_reads(spec, job.options):
        for read_week in job.span(read.weeks):
            if planned.available(read.stage, read.table, tier, read_week):
                file_dep += [str(layout.table_file(read.table, tier, read_week, read.stage)),
                             str(layout.record_file(read.stage, tier, read_week))]
    targets = [str(p) for p in layout.table_files(spec.writes, spec.stage, tier, week).values()]
    targets += [str(job.artifact_path(a)) for a in spec.artifacts]
    targets.append(str(layout.record_file(spec.stage, tier, week)))
    # The batch id travels in the action's arguments, never in `uptodate`: a new run of the
    # same inputs, rules and options is up to date.
    settings = {"stage": spec.stage.value, "version": spec.version, "tier": tier.value,
                "week_ending": week.isoformat(), **job.options.pick(upstream_options(spec))}
    uptodate: list[Any] = [config_changed(settings)]
    task_dep: list[str] = []
    if spec.reads_source and (Stage.FETCH, tier, week) in planned.stages:
        task_dep.append(task_name(Stage.FETCH, tier, week))
    if job.source_path is not None and Artifact.SOURCE not in spec.artifacts:
        # judged by content like a file_dep, but a missing file (its fetch failed) means
        # "run and record why" rather than doit's error, so the other weeks go on; the whole
        # week's chain checks it, so `doit list --status` shows every stage a change re-runs
        uptodate.append(SourceUnchanged(str(job.source_path)))
    if force or not (spec.reads or spec.reads_source):
        uptodate.append(False)  # a stage that reads nothing cannot be judged: it runs when planned
    planned.stages.add((spec.stage, tier, week))
    return {
        "basename": spec.stage.value,
        "name": f"{tier.value}:{week.isoformat()}",
        "doc": f"{spec.doc} ({tier.value} {week.isoformat()})",
        "actions": [(run_stage, [spec, job, batch])],
        "file_dep": sorted(set(file_dep)),
        "task_dep": task_dep,
        "targets": targets,
        "uptodate": uptodate,
        "clean": True if Artifact.SOURCE not in spec.artifacts else [],  # `doit clean` never deletes data
        "meta": {"build_dir": str(layout.build_dir), **_source_dir_meta(spec, job)},
    }


def _source_dir_meta(spec: StageSpec, job: StageJob) -> dict[str, str]:
    """Where a stage writes source files, so a run can sweep what a killed one left there."""
    if Artifact.SOURCE in spec.artifacts and job.source_path is not None:
        return {"source_dir": str(job.source_path.parent)}
    return {}


def group_docs(basenames: set[str]) -> list[dict[str, Any]]:
    """The group task of each stage (`doit ingest` runs every ingest), with its `doit list` help."""
    docs = {spec.stage.value: spec.doc for spec in SPECS.values()}
    docs[BATCH_TASK] = "Write a tier's batch file and print its summary block."
    return [{"basename": name, "name": None, "doc": docs[name], "uptodate": [GroupUpToDate()]}
            for name in sorted(basenames, key=_group_order) if name in docs]


class GroupUpToDate(UptodateCalculator):
    """A group task (`ingest`, all ingests) is up to date when every task in it is, so that
    `doit list --status` marks it R only when one of them would run."""

    def setup(self, dep_manager, tasks_dict) -> None:
        super().setup(dep_manager, tasks_dict)
        self.dep_manager = dep_manager

    def __call__(self, task, values) -> bool:
        return all(self.dep_manager.get_status(self.tasks_dict[name], self.tasks_dict).status == "up-to-date"
                   for name in task.task_dep)


def _group_order(name: str) -> int:
    order = [*(stage.value for stage in Stage), BATCH_TASK]
    return order.index(name) if name in order else len(order)


def task_name(stage: Stage, tier: Tier, week: dt.date) -> str:
    return f"{stage.value}:{tier.value}:{week.isoformat()}"


@dataclasses.dataclass
class Planned:
    """Which stage outputs this invocation will produce, so later tasks may depend on them."""

    layout: Layout
    stages: set[tuple[Stage, Tier, dt.date]] = dataclasses.field(default_factory=set)

    def available(self, stage: Stage, table: Table, tier: Tier, week: dt.date) -> bool:
        """Produced by a task of this run, or left complete on disk by an earlier one."""
        if (stage, tier, week) in self.stages:
            return True
        return (self.layout.record_file(stage, tier, week).exists()
                and self.layout.table_file(table, tier, week, stage).exists())

    def reads_produced(self, spec: StageSpec, job: StageJob) -> bool:
        """Whether a task of this run produces something `spec` reads for `job`."""
        return any((read.stage, job.tier, week) in self.stages
                   for read in active_reads(spec, job.options) for week in job.span(read.weeks))

    def can_run(self, spec: StageSpec, job: StageJob) -> bool:
        """Every input a stage requires exists or will; a span needs one week of it."""
        for read in active_reads(spec, job.options):
            weeks = [w for w in job.span(read.weeks) if self.available(read.stage, read.table, job.tier, w)]
            if not weeks and (read.required or read.weeks > 1):
                return False
        return True


def tier_tasks(plan: TierPlan, planned: Planned) -> Iterator[dict[str, Any]]:
    """One tier's stage tasks, then its `batch:<TIER>` task that writes its batch file and block."""
    params, batch = plan.params, plan.batch
    layout, tier = Layout(params.build_dir), params.tier
    options = Options(reject_zero_volume=params.reject_zero_volume, with_rolling=not params.skip_rolling)
    names: list[str] = []
    missing = dict(plan.missing)
    building: set[dt.date] = set()

    def emit(spec: StageSpec, job: StageJob) -> dict[str, Any]:
        task = stage_task(spec, job, batch, params.force, planned)
        names.append(f"{task['basename']}:{task['name']}")
        return task

    for week in params.weeks:
        source = params.source_path(week)
        job = StageJob(tier, week, layout, options, source, finra_url=plan.fetches.get(week))
        if week in plan.fetches:
            yield emit(SPECS[Stage.FETCH], job)
        elif week not in missing:
            problem = source_problem(source)
            if problem:
                missing[week] = problem
                continue
        else:
            continue
        for spec in WEEK_CHAIN:
            yield emit(spec, job)
        building.add(week)

    unplanned: dict[str, str] = {}
    refreshed: list[str] = []  # window tasks other than the last week's rolling and snapshot
    # a run that processes no week writes no table: its windows stay as they are
    if building:
        for end in params.range_ends:
            job = StageJob(tier, end, layout, options)
            for spec in RANGE_END_STAGES:
                if _left_out(spec, params, options):
                    continue
                if planned.can_run(spec, job):
                    task = emit(spec, job)
                    if not (end == params.end_week and spec.stage in (Stage.ROLLING, Stage.SNAPSHOT)):
                        refreshed.append(names[-1])  # the batch notes it with the other windows
                    yield task
                elif end == params.end_week:
                    unplanned[spec.stage.value] = _why_not(spec.stage, end)
        for task in _refresh_tasks(layout, tier, set(params.range_ends), params, options, batch, planned):
            refreshed.append(f"{task['basename']}:{task['name']}")
            names.append(refreshed[-1])
            yield task
    else:
        for spec in RANGE_END_STAGES:
            if not _left_out(spec, params, options):
                unplanned[spec.stage.value] = "no week of the range was processed"
    batch_plan = BatchPlan(
        params, batch, {w.isoformat(): why for w, why in missing.items()},
        rolling_planned=task_name(Stage.ROLLING, tier, params.end_week) in names,
        snapshot_planned=task_name(Stage.SNAPSHOT, tier, params.end_week) in names,
        unplanned=unplanned, refreshed=tuple(refreshed), range_reason=plan.range_reason,
        fetched=tuple(w.isoformat() for w in plan.fetches),
    )
    yield {
        "basename": BATCH_TASK,
        "name": tier.value,
        "doc": f"Write {tier.value}'s batch file and print its summary ({params.start_week}..{params.end_week})",
        "actions": [(tier_summary, [batch_plan])],
        "task_dep": sorted(names, key=_run_order),
        "uptodate": [False],
        "verbosity": 2,
        "meta": {"build_dir": str(params.build_dir)},
    }


def _run_order(name: str) -> tuple[str, int]:
    """A tier's stage tasks in the order they run: week by week, each week's stages in turn.
    A week's window then runs right after its aggregate and reads the tables its week's stages
    just wrote while the process still holds them (`otc.store`), not back from disk."""
    stage, _tier, week = name.split(":")
    return week, list(Stage).index(Stage(stage))


def _left_out(spec: StageSpec, params: BackfillParams, options: Options) -> bool:
    """Left out by its own skip parameter, or because a range-end stage it reads is."""
    if spec.skip_flag and getattr(params, spec.skip_flag):
        return True
    return any(SPECS[read.stage].per_range_end and _left_out(SPECS[read.stage], params, options)
               for read in active_reads(spec, options))


def _why_not(stage: Stage, end: dt.date) -> str:
    if stage is Stage.ROLLING:
        return f"no weekly summary in the {WINDOW_WEEKS}-week window ending {end}"
    if stage is Stage.REPORT:
        return f"no snapshot for {end}, the range's last week"
    return f"no summary for {end}, the range's last week"


def _refresh_tasks(
    layout: Layout, tier: Tier, ends: set[dt.date], params: BackfillParams, options: Options, batch: Batch,
    planned: Planned,
) -> Iterator[dict[str, Any]]:
    """Rolling, snapshot and report of other range ends that read something this run produces.

    They read this run's outputs, so they are tasks too: a changed source re-runs every
    window and report that reads it, not only the current range's.
    """
    on_disk = {spec.stage: set(layout.record_weeks(spec.stage, tier)) for spec in RANGE_END_STAGES}
    for end in sorted(set().union(*on_disk.values()) - ends):
        snapshot = read_record(layout, Stage.SNAPSHOT, tier, end)
        with_rolling = end in on_disk[Stage.ROLLING] and (
            snapshot is None or snapshot["execution"]["params"].get("with_rolling", True))
        job = StageJob(tier, end, layout, dataclasses.replace(options, with_rolling=with_rolling))
        for spec in RANGE_END_STAGES:
            if (end in on_disk[spec.stage] and not _left_out(spec, params, job.options)
                    and planned.reads_produced(spec, job) and planned.can_run(spec, job)):
                yield stage_task(spec, job, batch, params.force, planned)


def tier_summary(plan: BatchPlan) -> dict[str, Any]:
    """Write the tier's batch file and print its summary block; never fails, so every tier reports."""
    outcome = finish_batch(plan)
    print(summary_block(outcome))
    return {"status": outcome.status, "quality_failed": outcome.quality_failed}


def backfill_task(plans: list[TierPlan], unresolved: dict[str, str], strict: bool, build_dir: Path) -> dict[str, Any]:
    """The task users name: every tier's batch, then the manifest and a closing line.

    `unresolved` holds the tiers that could not be planned at all, and why.
    """
    tiers = [plan.params.tier.value for plan in plans]
    return {
        "basename": BACKFILL_TASK,
        "doc": BACKFILL_DOC + (f" ({', '.join(tiers)})" if tiers else ""),
        "actions": [(close_run, [build_dir, tiers, unresolved, strict])],
        "task_dep": [f"{BATCH_TASK}:{tier}" for tier in tiers],
        "getargs": {"outcomes": (BATCH_TASK, None)} if tiers else {},
        "uptodate": [False],
        "verbosity": 2,
        "meta": {"build_dir": str(build_dir)},
    }


def close_run(build_dir: Path, tiers: list[str], unresolved: dict[str, str], strict: bool,
              outcomes: dict[str, Any] | None = None) -> Any:
    """Fold the records into the manifest; fail (non-zero exit) unless every tier COMPLETED."""
    for tier, why in unresolved.items():
        print(f"{tier}: FAILED: {why}")
    statuses = {**(outcomes or {}), **{tier: {"status": "FAILED"} for tier in unresolved}}
    message = finish_run(Path(build_dir), [*tiers, *unresolved], statuses, strict)
    if message:
        return UserFailure(message)
    return None


def failing_task(message: str, build_dir: Path | None = None) -> dict[str, Any]:
    """The `backfill` task of an invocation that cannot plan: it fails with one line."""
    return {
        "basename": BACKFILL_TASK,
        "doc": BACKFILL_DOC,
        "actions": [(_return_failure, [message])],
        "uptodate": [False],
        "verbosity": 2,
        "meta": {"build_dir": str(build_dir)} if build_dir else {},
    }


def _return_failure(message: str) -> TaskFailed:
    return UserFailure(message)


