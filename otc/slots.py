"""At most N holders at once across processes: `doit -n 2` runs fetches side by side, and FINRA
must never see more than 4 of our requests in flight."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator


class FileSlots:
    """`count` slots, each a file in `folder` that a holder keeps `flock`ed; the OS releases a
    slot when its holder's process ends, even a killed one."""

    def __init__(self, folder: Path, count: int, poll_seconds: float = 0.01):
        self.folder = folder
        self.count = count
        self.poll_seconds = poll_seconds

    @contextlib.contextmanager
    def hold(self) -> Iterator[int]:
        """Wait for a free slot and hold it for the `with` block; yields its number."""
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            for number in range(self.count):
                fd = os.open(self.folder / f"slot{number}", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    yield number
                finally:
                    os.close(fd)
                return
            time.sleep(self.poll_seconds)
