"""Shared test settings: nothing in the suite may reach the internet."""

from __future__ import annotations

import pytest

#: A closed port on loopback: a test that fetches without starting the stand-in server gets
#: "Cannot reach FINRA" at once instead of a request to FINRA's real API.
OFFLINE_FINRA_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _no_real_finra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTC_FINRA_URL", OFFLINE_FINRA_URL)
