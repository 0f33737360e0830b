"""Importing the package: Arrow's allocator is chosen before pyarrow loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import otc, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def allocator(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=environment, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="jemalloc is chosen on Linux only")
def test_importing_otc_first_makes_arrow_use_jemalloc():
    assert allocator() == "jemalloc"


def test_an_allocator_the_user_chose_is_kept():
    assert allocator(ARROW_DEFAULT_MEMORY_POOL="system") == "system"


def test_every_error_users_can_cause_is_an_otc_error_in_one_module():
    import inspect

    from otc import errors

    names = {name for name, value in vars(errors).items() if inspect.isclass(value) and issubclass(value, Exception)}
    assert names == {
        "OtcError", "ParameterError", "SourceError", "UpstreamFailed", "ValueOutOfRange", "BuildDirBusy",
        "NoOutputs", "QueryError", "FinraError", "FinraUnreachable", "FinraRefused", "FinraBadData",
    }
    assert all(issubclass(getattr(errors, name), errors.OtcError) for name in names)
    assert all(getattr(errors, name).__doc__ for name in names)
