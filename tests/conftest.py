"""Shared test settings: nothing in the suite may reach the internet; one fixtures backfill per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from doit_helpers import RANGE, FixtureRun, copy_project, doit, file_states, make_project

# The suite starts `doit` and `otc` in about 150 subprocesses. Where PYTHONDONTWRITEBYTECODE is
# set (as in this project's sandbox), each of them compiled otc's modules again: let them keep
# bytecode, outside the source tree, as a user's Python does.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "otc-tests-pycache"))

#: A closed port on loopback: a test that fetches without starting the stand-in server gets
#: "Cannot reach FINRA" at once instead of a request to FINRA's real API.
OFFLINE_FINRA_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _no_real_finra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTC_FINRA_URL", OFFLINE_FINRA_URL)


# --- one real backfill of the fixture weeks, shared -----------------------------------------


def _shared_run(root: Path) -> FixtureRun:
    # a new interpreter, as a user's command: most other runs are forked (tests/forked_doit.py)
    result = doit(root, "backfill", *RANGE, env={"OTC_FINRA_URL": OFFLINE_FINRA_URL}, fresh=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return FixtureRun(root, result)


def _unchanged(run: FixtureRun) -> Iterator[FixtureRun]:
    before = file_states(run.root)
    yield run
    assert file_states(run.root) == before, f"a test changed the shared {run.root}: use a copy (`built`)"


@pytest.fixture(scope="session")
def fixture_backfill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureRun]:
    """The first backfill of the six fixture weeks, run once a session. Read it, never change
    it: a test that runs doit there or edits a file takes a copy (`built`)."""
    yield from _unchanged(_shared_run(make_project(tmp_path_factory.mktemp("fixture_backfill"))))


@pytest.fixture(scope="session")
def fixture_rerun(fixture_backfill: FixtureRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureRun]:
    """An identical second backfill, on a copy of `fixture_backfill`, run once a session; read only."""
    root = copy_project(fixture_backfill.root, tmp_path_factory.mktemp("fixture_rerun") / "project")
    yield from _unchanged(_shared_run(root))


@pytest.fixture
def built(fixture_backfill: FixtureRun, tmp_path: Path) -> Path:
    """This test's own copy of the project after the first fixture backfill."""
    return copy_project(fixture_backfill.root, tmp_path / "project")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Without pytest-xdist (`-p no:xdist`, or a venv from before it joined the test extra), the
    `--numprocesses`/`--dist` of the addopts in pyproject.toml are accepted and the suite runs in
    one process. (pytest keeps one-letter options for plugins: the addopts spell `-n` out.)"""
    if pluginmanager.hasplugin("xdist"):
        return
    group = parser.getgroup("xdist-absent", "pytest-xdist is not active: accepted, ignored")
    group.addoption("--numprocesses", dest="numprocesses", default=None, help="ignored")
    group.addoption("--dist", dest="dist", default="no", help="ignored")
