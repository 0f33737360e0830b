"""How doit decides a file changed: its content (md5), each file read at most once per run."""

from __future__ import annotations

import os

from doit.dependency import MD5Checker, get_file_md5


class MemoMD5Checker(MD5Checker):
    """doit's MD5 checker (timestamp first, then size, then content) with a memo of digests by
    (path, mtime, size): a source file that five tasks depend on is hashed once, not five times."""

    def __init__(self) -> None:
        super().__init__()
        self._digests: dict[tuple[str, int, int], str] = {}

    def _md5(self, path: str, stat: os.stat_result) -> str:
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in self._digests:
            self._digests[key] = get_file_md5(path)
        return self._digests[key]

    def check_modified(self, file_path, file_stat, state):
        timestamp, size, file_md5 = state
        if file_stat.st_mtime == timestamp:
            return False
        if file_stat.st_size != size:
            return True
        return file_md5 != self._md5(file_path, file_stat)

    def get_state(self, dep, current_state):
        stat = os.stat(dep)
        if current_state and current_state[0] == stat.st_mtime:
            return None
        return stat.st_mtime, stat.st_size, self._md5(dep, stat)
