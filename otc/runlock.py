"""One run at a time per build directory: an exclusive lock the OS releases on any exit."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from otc.errors import BuildDirBusy


class RunLock:
    """`flock` on `<build>/.lock`: held for the life of the process that took it, even a killed one."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BuildDirBusy(
                f"Another run is using {self.path.parent}/ (pid {holder}); "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sweep_dead_writers(folder: Path) -> list[Path]:
    """Remove the temporary files in `folder` (not below it) whose writing process is gone.

    For folders no lock covers, such as a source_dir that fetches write into: a file a live
    process is still writing is left alone.
    """
    stale = []
    for path in folder.glob(".*.tmp"):
        parts = path.name.split(".")
        pid = parts[-3] if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is not None and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            stale.append(path)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporary_files(build_dir: Path) -> list[Path]:
    """Remove temporary files a killed run left behind; only called while holding the lock."""
    stale = [p for p in build_dir.rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
