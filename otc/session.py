"""The opening and closing of a run that executes tasks: one place for what surrounds the stages."""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import sys
from pathlib import Path

from otc.layout import Layout
from otc.runlock import RunLock, sweep_dead_writers, sweep_temporary_files


@dataclasses.dataclass
class RunSession:
    """Before any task executes: take each build directory's lock (so two runs never meet),
    remove temporary files a killed run left (in the build dirs and the source dirs fetches
    write into), note the optional modules that are not installed, and freeze the objects
    already alive. After the last task: release the locks."""

    locks: list[RunLock] = dataclasses.field(default_factory=list)
    opened: bool = False

    def open(self, build_dirs: list[Path], source_dirs: list[Path] | None = None) -> None:
        """Raises BuildDirBusy when another run holds one of `build_dirs`. In `source_dirs`
        (where fetches write), only the leftovers of processes that are gone are removed."""
        for build_dir in sorted(set(build_dirs)):
            lock = RunLock(Layout(build_dir).lock_file)
            lock.acquire()
            self.locks.append(lock)
            sweep_temporary_files(build_dir)
        for source_dir in sorted(set(source_dirs or ())):
            sweep_dead_writers(source_dir)
        if not self.opened:
            note_missing_modules()
            # What is alive now (modules, the task list) lives until exit. Frozen, it is no longer
            # walked by every full garbage collection, nor by the last one at exit (30 ms), and
            # the workers of `doit -n N -P process`, forked next, share its pages instead of
            # copying them (see gc.freeze).
            gc.freeze()
        self.opened = True

    def close(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks.clear()


#: Modules pyarrow looks for every time it converts Python values (a scalar, a list of
#: check rows), whether or not they are installed.
OPTIONAL_MODULES = ("dateutil",)


def note_missing_modules() -> None:
    """Tell Python once that an optional module pyarrow asks for is not installed.

    A failed import is not remembered: each one searches sys.path again (about 45 us), and
    pyarrow asks for dateutil at every conversion of Python values, several times a stage.
    With None in sys.modules the import fails at once, with the same ImportError.
    """
    for name in OPTIONAL_MODULES:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None
