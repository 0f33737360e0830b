"""How doit decides a file dependency changed: a source by its content, an output by its mtime."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from doit.dependency import MD5Checker

from otc.layout import Layout
from otc.schemas import Table


def file_digest(path: str) -> str:
    """A file's content digest: SHA-1, which CPUs with SHA extensions compute 2-3 times as
    fast as doit's MD5; it only has to notice that a file changed."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


class FileStateChecker(MD5Checker):
    """doit's checker (timestamp first, then size, then content), with three savings.

    The content digest is `file_digest`. A file that several tasks depend on is hashed once
    a run, not once a task. And a file in one of `output_dirs` (the build dir's table
    directories) is not hashed at all: every stage that rewrites one of its outputs writes
    new execution ids and timestamps into it, so a new mtime already means new content, and
    reading it back to hash it only costs time. (Only the table directories: a build dir
    may hold the sources too, `build_dir=.` say, and those are judged by content.)
    """

    output_dirs: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._digests: dict[tuple[str, int, int], str] = {}

    def _digest(self, path: str, stat: os.stat_result) -> str:
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in self._digests:
            self._digests[key] = file_digest(path)
        return self._digests[key]

    def _is_output(self, path: str) -> bool:
        return os.path.abspath(path).startswith(tuple(folder + os.sep for folder in self.output_dirs))

    def check_modified(self, file_path, file_stat, state):
        timestamp, size, digest = state
        if file_stat.st_mtime == timestamp:
            return False
        if file_stat.st_size != size or digest is None:
            return True
        return digest != self._digest(file_path, file_stat)

    def get_state(self, dep, current_state):
        stat = os.stat(dep)
        if current_state and current_state[0] == stat.st_mtime:
            return None
        digest = None if self._is_output(dep) else self._digest(dep, stat)
        return stat.st_mtime, stat.st_size, digest


def file_state_checker(build_dir: Path) -> type[FileStateChecker]:
    """The checker class for one build dir (doit instantiates it; its name, which doit
    records per task, stays the same)."""
    layout = Layout(Path(build_dir))
    output_dirs = tuple(os.path.abspath(layout.table_dir(table)) for table in Table)
    return type(FileStateChecker.__name__, (FileStateChecker,), {"output_dirs": output_dirs})


class SourceUnchanged:
    """doit `uptodate` check of a source file, judged as `FileStateChecker` judges a file_dep
    (timestamp, then size, then content), except that a missing file means "not up to date"
    where a file_dep would be an error: a week whose fetch failed must still be reported."""

    KEY = "source_state"

    def __init__(self, path: str):
        self.path = path
        self._digests: dict[tuple[int, int], str] = {}

    def __call__(self, task, values) -> bool:
        task.value_savers.append(self._state)
        saved = values.get(self.KEY)
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        if not saved:
            return False
        mtime, size, digest = saved
        if stat.st_mtime == mtime:
            return True
        return stat.st_size == size and self._digest(stat) == digest

    def _digest(self, stat: os.stat_result) -> str:
        key = (stat.st_mtime_ns, stat.st_size)
        if key not in self._digests:
            self._digests[key] = file_digest(self.path)
        return self._digests[key]

    def _state(self) -> dict[str, list | None]:
        """Saved after the stage ran: what the file was when it was read."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return {self.KEY: None}
        return {self.KEY: [stat.st_mtime, stat.st_size, self._digest(stat)]}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"
