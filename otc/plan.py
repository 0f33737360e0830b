"""Planning one doit invocation: the variables become each tier's range, fetches and tasks.

Planning reads only what it must: FINRA's list of published weeks (cached for a few minutes)
when a week is to be fetched or the range ends at the latest week, and the source directory
when the latest week must come from the files already there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from otc.errors import FinraError, OtcError, ParameterError
from otc.filestate import file_state_checker
from otc.layout import Layout
from otc.lineage import Batch, batch_id_for, new_execution_id, utc_now
from otc.params import DEFAULT_BUILD_DIR, REPEATED, BackfillRequest, parse_request
from otc.reporting import reporter_for
from otc.session import RunSession
from otc.tasks import BACKFILL_TASK, BATCH_TASK, Planned, TierPlan, backfill_task, failing_task, group_docs, tier_tasks
from otc.tiers import Tier

@dataclasses.dataclass(frozen=True)
class Build:
    """What one doit invocation is asked to do: the backfill's tasks, or why there are none."""

    build_dir: Path
    task_dicts: tuple[dict[str, Any], ...]
    stage_task_names: tuple[str, ...]
    no_variables: bool = False
    dep_file: str | None = None  # doit's state; default: inside the build dir
    session: RunSession = dataclasses.field(default_factory=RunSession)

    @classmethod
    def from_vars(cls, variables: Mapping[str, str], today: dt.date | None = None,
                  environ: Mapping[str, str] | None = None) -> "Build":
        """Plan from doit's command-line variables (`name=value`)."""
        now = utc_now()
        environ = os.environ if environ is None else environ
        build_dir = Path(variables.get("build_dir") or DEFAULT_BUILD_DIR)
        try:  # doit opens its state there before any task runs
            build_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"Cannot use build_dir {build_dir}: {exc.strerror or exc}"
            return cls(build_dir, (failing_task(problem),), (), dep_file=":memory:")
        try:
            request = parse_request(variables, today or dt.date.today())
            layout = Layout(request.build_dir)
            published = _published_weeks(request, layout, now, environ)
        except ParameterError as exc:
            no_variables = not any(name != "build_dir" for name in variables)
            return cls(build_dir, (failing_task(str(exc)),), (), no_variables)
        planned = Planned(layout)
        task_dicts: list[dict[str, Any]] = []
        plans: list[TierPlan] = []
        unresolved: dict[str, str] = {}
        for tier in request.tiers:
            try:
                plan = plan_tier(request, tier, now, published)
            except OtcError as exc:
                unresolved[tier.value] = str(exc)
                continue
            plans.append(plan)
            task_dicts += list(tier_tasks(plan, planned))
        if not plans:
            return cls(request.build_dir, (failing_task("; ".join(unresolved.values()), request.build_dir),), ())
        task_dicts.append(backfill_task(plans, unresolved, request.strict, request.build_dir))
        task_dicts[:0] = group_docs({t["basename"] for t in task_dicts if t.get("name")})
        names = tuple(f"{t['basename']}:{t['name']}" for t in task_dicts
                      if t.get("name") and t["basename"] != BATCH_TASK)
        return cls(request.build_dir, tuple(task_dicts), names)

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
            "reporter": reporter_for(self.session),
        }
        if self.no_variables:
            config["forget_all"] = True
        return config

    def tasks(self) -> Iterator[dict[str, Any]]:
        yield from self.task_dicts


class _Published:
    """FINRA's published weeks, asked for at most once, and only if some tier needs them."""

    def __init__(self, base_url: str | None = None,
                 load: Callable[[], Mapping[Tier, tuple[dt.date, ...]]] | None = None):
        self.base_url = base_url
        self._load = load
        self._value: Mapping[Tier, tuple[dt.date, ...]] | None = None
        self.error: FinraError | None = None

    @property
    def enabled(self) -> bool:
        return self._load is not None

    def get(self) -> Mapping[Tier, tuple[dt.date, ...]] | None:
        """The list, or None when FINRA cannot be asked (then `error` says why)."""
        if self._load is None or self.error is not None:
            return None
        if self._value is None:
            try:
                self._value = self._load()
            except FinraError as exc:
                self.error = exc
                return None
        return self._value


def _published_weeks(request: BackfillRequest, layout: Layout, now: dt.datetime,
                     environ: Mapping[str, str]) -> _Published:
    if not request.fetching:
        return _Published()
    from otc import finra  # only a fetching run pays for the HTTP client's import

    base = finra.resolve_base_url(request.finra_url, environ)

    def load() -> Mapping[Tier, tuple[dt.date, ...]]:
        def client() -> "finra.FinraClient":  # made only when the cache cannot answer
            return finra.FinraClient(base, user_agent=finra.user_agent())

        return finra.load_published_weeks(client, layout.finra_cache_file, now, base_url=base)

    return _Published(base, load)


def plan_tier(request: BackfillRequest, tier: Tier, now: dt.datetime, published: _Published) -> TierPlan:
    """One tier's range (as_of=latest resolved), batch and fetches."""
    latest, reason = None, ""
    if request.range.needs_latest:
        latest, reason = _latest_week(request, tier, published)
    params = request.for_tier(tier, latest)
    layout = Layout(request.build_dir)
    batch_id = batch_id_for(tier, params.start_week, params.end_week, now,
                            taken=lambda b: layout.batch_file(b).exists())
    batch = Batch(batch_id, new_execution_id(), now)
    missing: dict[dt.date, str] = {}
    fetches: dict[dt.date, str] = {}
    if published.enabled:
        from otc import finra

        for week in params.weeks:
            exists = params.source_path(week).exists()
            if exists and not request.refetch:
                continue
            weeks_published = published.get()
            if weeks_published is None:
                if not exists:
                    missing[week] = str(published.error)
            elif week in weeks_published.get(tier, ()):
                fetches[week] = published.base_url
            elif not exists:
                missing[week] = finra.not_published_message(tier, week)
    return TierPlan(params, batch, reason, missing, fetches)


def _latest_week(request: BackfillRequest, tier: Tier, published: _Published) -> tuple[dt.date, str]:
    """The newest week that can be had for `tier`, and the reason given to the user."""
    weeks = published.get()
    if weeks is not None and weeks.get(tier):
        newest = max(weeks[tier])
        return newest, f"as_of=latest: {newest} is FINRA's newest published {tier.value} week"
    local = newest_local_week(request.source_dir_of(tier), request.file_pattern)
    why = f"FINRA not asked ({published.error})" if published.error else "fetching is off"
    if local is None:
        if weeks is not None:
            why = f"FINRA lists no {tier.value} week"
        raise OtcError(f"as_of=latest: no {tier.value} week available ({why}) and no week file in "
                       f"{request.source_dir_of(tier)}; give as_of=<date> or start_week/end_week")
    return local, f"as_of=latest: {local} is the newest week file in {request.source_dir_of(tier)} ({why})"


def newest_local_week(source_dir: Path, file_pattern: str) -> dt.date | None:
    """The newest Friday whose week file is in `source_dir`."""
    head, _, tail = file_pattern.partition("{week_ending}")
    shape = re.compile(re.escape(head) + r"(\d{4}-\d{2}-\d{2})" + re.escape(tail) + r"\Z")
    found = []
    try:
        names = os.listdir(source_dir)
    except OSError:
        return None
    for name in names:
        match = shape.match(name)
        if match:
            try:
                day = dt.date.fromisoformat(match.group(1))
            except ValueError:
                continue
            if day.weekday() == 4:
                found.append(day)
    return max(found, default=None)


def doit_variables(argv: list[str] | None = None) -> dict[str, str]:
    """The `name=value` variables of this doit command line (all of them, so typos are caught).

    doit keeps the last of a repeated variable; a repeat is an error here, so it is found in
    `argv` (the command line, when doit runs as a command).
    """
    from doit import doit_cmd

    variables = dict(doit_cmd._CMDLINE_VARS or {})  # doit keeps them here; it has no public accessor
    names = [arg.split("=", 1)[0] for arg in (sys.argv[1:] if argv is None else argv)
             if "=" in arg and not arg.startswith("-")]
    repeated = sorted({name for name in names if names.count(name) > 1 and name in variables})
    if repeated:
        variables[REPEATED] = repeated[0]
    return variables


__all__ = ["Build", "doit_variables", "newest_local_week", "plan_tier"]
