"""The file-state checker: sources judged by content, outputs by mtime, each file hashed once."""

from __future__ import annotations

import hashlib
import os

import pytest

from otc.filestate import FileStateChecker, file_digest, file_state_checker


@pytest.fixture
def files(tmp_path):
    source = tmp_path / "sources" / "week.psv"
    output = tmp_path / "build" / "otc_raw" / "NMS_TIER_1" / "2025-12-26.parquet"
    for path in (source, output):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"content")
    return source, output


@pytest.fixture
def hashed(monkeypatch):
    """The paths the checker hashes, in order."""
    calls: list[str] = []
    def counting(path):
        calls.append(str(path))
        return file_digest(path)

    monkeypatch.setattr("otc.filestate.file_digest", counting)
    return calls


def touch_later(path):
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_checker_keeps_its_name_for_every_build_dir(tmp_path):
    checker = file_state_checker(tmp_path / "build")
    assert issubclass(checker, FileStateChecker)
    assert checker.__name__ == "FileStateChecker"  # doit re-runs every task when the name changes


def test_source_state_holds_its_digest_and_is_hashed_once(files, hashed, tmp_path):
    source, _ = files
    checker = file_state_checker(tmp_path / "build")()
    state = checker.get_state(str(source), None)
    assert state[2] == hashlib.sha1(b"content").hexdigest()
    assert checker.get_state(str(source), None) == state
    assert hashed == [str(source)]


def test_output_state_has_no_digest_and_is_never_read(files, hashed, tmp_path):
    _, output = files
    checker = file_state_checker(tmp_path / "build")()
    timestamp, size, digest = checker.get_state(str(output), None)
    assert (size, digest) == (len(b"content"), None)
    assert hashed == []


def test_relative_output_paths_count_as_outputs(files, hashed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    checker = file_state_checker("build")()
    assert checker.get_state("build/otc_raw/NMS_TIER_1/2025-12-26.parquet", None)[2] is None
    assert checker.get_state("sources/week.psv", None)[2] is not None


def test_same_content_with_a_new_mtime_is_unchanged_for_a_source_but_changed_for_an_output(files, tmp_path):
    source, output = files
    checker = file_state_checker(tmp_path / "build")()
    states = {path: checker.get_state(str(path), None) for path in (source, output)}
    for path in (source, output):
        touch_later(path)
    fresh = file_state_checker(tmp_path / "build")()
    assert not fresh.check_modified(str(source), os.stat(source), states[source])
    assert fresh.check_modified(str(output), os.stat(output), states[output])


def test_a_source_with_new_content_of_the_same_size_is_changed(files, tmp_path):
    source, _ = files
    checker = file_state_checker(tmp_path / "build")()
    state = checker.get_state(str(source), None)
    source.write_bytes(b"CONTENT")
    touch_later(source)
    assert file_state_checker(tmp_path / "build")().check_modified(str(source), os.stat(source), state)


def test_unchanged_mtime_is_unchanged_without_reading(files, hashed, tmp_path):
    source, output = files
    checker = file_state_checker(tmp_path / "build")()
    for path in (source, output):
        state = (os.stat(path).st_mtime, 999, "stale")
        assert not checker.check_modified(str(path), os.stat(path), state)
        assert checker.get_state(str(path), state) is None
    assert hashed == []


def test_a_sibling_directory_named_like_the_build_dir_is_not_an_output(tmp_path, hashed):
    lookalike = tmp_path / "build-old" / "week.psv"
    lookalike.parent.mkdir()
    lookalike.write_bytes(b"x")
    checker = file_state_checker(tmp_path / "build")()
    assert checker.get_state(str(lookalike), None)[2] is not None


@pytest.mark.parametrize("build_dir", [".", "sources", ""])
def test_sources_inside_the_build_dir_are_still_judged_by_content(tmp_path, monkeypatch, build_dir):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "sources" / "week.psv"
    source.parent.mkdir()
    source.write_bytes(b"content")
    checker = file_state_checker(build_dir)()
    state = checker.get_state("sources/week.psv", None)
    assert state[2] is not None
    touch_later(source)  # a re-copy: new mtime, same bytes
    assert not file_state_checker(build_dir)().check_modified("sources/week.psv", os.stat(source), state)
