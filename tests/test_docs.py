"""The docs agree with the code: the README's parameter table is generated from
`otc.params.PARAMETERS`, every `otc` command has help, `otc sql --help` and docs/tables.md
list every table and column, the quick start's commands are the ones CI and the tests run,
and no doc points outside the repository.

Run this file as a script to rewrite the README's parameter table after changing
`otc/params.py`:

    .venv/bin/python tests/test_docs.py
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

import pytest

from otc.params import PARAMETERS, Parameter

PROJECT = Path(__file__).resolve().parents[1]
README = PROJECT / "README.md"
DOCS = [README, PROJECT / "CONTRIBUTING.md", PROJECT / "bench" / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
PARAMETERS_BEGIN = re.compile(r"^<!-- BEGIN parameters\b.*-->$", re.M)
PARAMETERS_END = "<!-- END parameters -->"
#: The README's quick start: from this heading to the next `## ` heading.
QUICK_START = "## Quick start"


# --- the parameter table: rendered from PARAMETERS --------------------------------------


def parameters_table(parameters: tuple[Parameter, ...] = PARAMETERS) -> str:
    """The Markdown table of `doit backfill`'s variables, in PARAMETERS' order."""
    lines = ["| parameter | default | what it does |", "|---|---|---|"]
    for p in parameters:
        if not p.default:
            default = ""
        elif p.default.startswith("("):
            default = p.default
        else:
            default = f"`{p.default}`"
        lines.append(f"| `{p.name}` | {default} | {_cell(p.help)} |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_parameters_block(text: str) -> tuple[int, int]:
    """Where the generated table sits in the README: (start, end) offsets between the markers."""
    begin = PARAMETERS_BEGIN.search(text)
    assert begin, "README.md has lost its `<!-- BEGIN parameters ... -->` marker"
    end = text.index(PARAMETERS_END, begin.end())
    return begin.end() + 1, end


def write_readme_parameters() -> bool:
    """Put the rendered table between the README's markers; True if the README changed."""
    text = README.read_text(encoding="utf-8")
    start, end = readme_parameters_block(text)
    updated = text[:start] + parameters_table() + "\n" + text[end:]
    if updated != text:
        README.write_text(updated, encoding="utf-8")
    return updated != text


def test_readme_parameter_table_is_generated_from_parameters():
    text = README.read_text(encoding="utf-8")
    start, end = readme_parameters_block(text)
    assert text[start:end] == parameters_table() + "\n", (
        "README.md's parameter table differs from otc/params.py: run `.venv/bin/python tests/test_docs.py`")


def test_readme_parameter_table_names_every_parameter_and_nothing_else():
    text = README.read_text(encoding="utf-8")
    start, end = readme_parameters_block(text)
    rows = text[start:end].strip().splitlines()[2:]
    names = [re.match(r"\| `([a-z_]+)` \|", row).group(1) for row in rows]
    assert names == [p.name for p in PARAMETERS]


def test_parameters_table_escapes_pipes_and_leaves_blank_defaults_blank():
    table = parameters_table((Parameter("x", "", "a | b"), Parameter("y", "(required)", "c")))
    assert table.splitlines()[2:] == ["| `x` |  | a \\| b |", "| `y` | (required) | c |"]


# --- help ---------------------------------------------------------------------------------


def _commands() -> dict[str, argparse.ArgumentParser]:
    from otc import cli

    parser = cli._parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": parser, **subparsers.choices}


def test_every_command_in_otc_help_has_help_text(capsys: pytest.CaptureFixture):
    from otc.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    (subparsers,) = [a for a in _commands()[""]._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {choice.dest: choice.help for choice in subparsers._choices_actions}
    assert set(listed) == set(subparsers.choices) == {"sql", "status", "report"}
    for name, text in listed.items():
        assert text and len(text) > 10, name
        assert re.search(rf"^\s+{name}\s+{re.escape(text[:20])}", out, re.M), f"`otc --help` does not list {name}"


@pytest.mark.parametrize("command", ["sql", "status", "report"])
def test_every_option_of_every_command_has_help_text(command: str):
    parser = _commands()[command]
    assert parser.description
    for action in parser._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"otc {command}: {action.dest} has no help"


def test_otc_sql_help_lists_every_table(capsys: pytest.CaptureFixture):
    from otc.cli import main
    from otc.query import RECORD_VIEWS
    from otc.schemas import Table

    with pytest.raises(SystemExit):
        main(["sql", "--help"])
    out = capsys.readouterr().out
    for name in [t.value for t in Table] + list(RECORD_VIEWS):
        assert re.search(rf"^  {name}\s+one row per ", out, re.M), f"`otc sql --help` does not describe {name}"


# --- docs/tables.md against the schemas --------------------------------------------------


def _doc_table_columns(path: Path) -> dict[str, list[str]]:
    """`| \\`name\\` | ... | \\`col\\`, \\`col\\` |` rows of a Markdown file: name -> columns of its last cell."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`[a-z_0-9]+`", cells[0]) and cells[-1].startswith("`"):
            found[cells[0].strip("`")] = re.findall(r"`([a-z_0-9]+)`", cells[-1])
    return found


def test_tables_doc_lists_every_column_of_every_table():
    from otc.query import BATCHES_SCHEMA, EXECUTIONS_SCHEMA, MANIFEST_SCHEMA
    from otc.schemas import Table

    documented = _doc_table_columns(PROJECT / "docs" / "tables.md")
    common = ["week_ending", "tier", "execution_id", "batch_id"]
    expected = {t.value: [c for c in t.schema.names if c not in common] for t in Table}
    expected |= {"otc_week_manifest": MANIFEST_SCHEMA.names, "otc_batches": BATCHES_SCHEMA.names,
                 "executions": EXECUTIONS_SCHEMA.names}
    assert {name: documented.get(name) for name in expected} == expected


def test_contributing_shows_the_stages_as_declared():
    from otc.stages import STAGES

    documented = _doc_table_columns(PROJECT / "CONTRIBUTING.md")
    declared = {spec.stage.value: [t.value for t in spec.writes] for spec in STAGES if spec.writes}
    assert {name: documented.get(name) for name in declared} == declared
    text = (PROJECT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for spec in STAGES:
        assert f"| `{spec.stage.value}` |" in text, f"CONTRIBUTING.md's stage table lacks {spec.stage.value}"


def doc_queries(path: Path) -> list[str]:
    """The SQL statements of a Markdown file's ```sql blocks."""
    blocks = re.findall(r"^```sql\n(.*?)^```$", path.read_text(encoding="utf-8"), re.M | re.S)
    return [s.strip() for block in blocks for s in block.split(";") if s.strip()]


def test_example_queries_run_on_the_fixture_weeks(fixture_backfill):
    from otc.layout import Layout
    from otc.query import connect, run_query

    queries = doc_queries(PROJECT / "docs" / "tables.md")
    assert len(queries) >= 6
    con = connect(Layout(fixture_backfill.root / "build"))
    for query in queries:
        if "read_parquet" in query:
            query = query.replace("'build/", f"'{fixture_backfill.root}/build/")
        assert run_query(con, query).num_rows > 0, query


# --- the quick start ----------------------------------------------------------------------


def quick_start_commands() -> list[str]:
    """The fenced blocks of the README's quick start section (its heading to the next `## `)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"\n{QUICK_START}\n"):]
    section = section[: section.index("\n## ", 1)]
    return [block.strip() for block in re.findall(r"^```[a-z]*\n(.*?)^```$", section, re.M | re.S)]


def test_quick_start_has_exactly_two_one_line_commands():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in command for command in commands)
    assert all(command.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e ") for command in commands)


def test_quick_start_test_command_is_the_one_ci_runs():
    ci_lines = (PROJECT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    (ci_command,) = [line.strip() for line in ci_lines if "pytest" in line and not line.lstrip().startswith("#")]
    assert quick_start_commands()[1] == ci_command


def test_quick_start_backfill_is_the_fixture_backfill_the_tests_run():
    """Offline by construction: the source_dir is named (never fetched into) and the range is
    explicit (no need for FINRA's list of weeks). It is the backfill of the session fixture."""
    from doit_helpers import RANGE

    install, run = quick_start_commands()[0].split(" && .venv/bin/doit ")
    assert install == "python3 -m venv .venv && .venv/bin/pip install -q -e ."
    words = shlex.split(run)
    assert words[0] == "backfill" and words[1:] == [arg for arg in RANGE if arg != "skip_report=true"]


# --- nothing points outside the repository ------------------------------------------------


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(PROJECT)))
def test_docs_point_only_inside_the_repository(path: Path):
    text = path.read_text(encoding="utf-8")
    for outside in (r"\.\./shared", r"SPEC\.md", r"\bSPEC\b", r"\bthe seed's\b"):
        assert not re.search(outside, text), f"{path.name} refers outside the repository ({outside})"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+://", target):
            assert (path.parent / target).resolve().is_relative_to(PROJECT), target
            assert (path.parent / target).exists(), f"{path.name} links to a missing {target}"


if __name__ == "__main__":
    changed = write_readme_parameters()
    print(f"README.md: parameter table {'rewritten' if changed else 'already up to date'}")
    sys.exit(0)
