"""What a run does to its own process before the first task."""

from __future__ import annotations

import sys

import pytest

from otc import session


def test_a_missing_optional_module_then_fails_to_import_at_once(monkeypatch: pytest.MonkeyPatch):
    name = "otc_no_such_module_anywhere"
    monkeypatch.setattr(session, "OPTIONAL_MODULES", (name, "json"))
    try:
        session.note_missing_modules()
        assert sys.modules[name] is None  # the import now fails without searching sys.path
        with pytest.raises(ImportError):
            __import__(name)
        assert sys.modules["json"] is not None  # an installed one is left alone
    finally:
        sys.modules.pop(name, None)


def test_pyarrow_still_converts_python_values_once_dateutil_is_noted_missing(monkeypatch: pytest.MonkeyPatch):
    import datetime as dt

    import pyarrow as pa

    monkeypatch.delitem(sys.modules, "dateutil", raising=False)
    session.note_missing_modules()
    now = dt.datetime(2026, 12, 1, 15, 4, 5, 123456, tzinfo=dt.timezone.utc)
    assert pa.scalar(now, pa.timestamp("us", tz="UTC")).as_py() == now
    assert pa.array(["a", None]).to_pylist() == ["a", None]
