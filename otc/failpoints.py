"""Fault injection for the crash and concurrency tests.

`OTC_FAILPOINT="<label>=kill"` makes the process SIGKILL itself when it reaches a point whose
label contains `<label>`; `=sleep:<seconds>` pauses there. Unset, it does nothing.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "OTC_FAILPOINT"


def reach(label: str) -> None:
    spec = os.environ.get(ENV)
    if not spec or "=" not in spec:
        return
    wanted, action = spec.rsplit("=", 1)
    if wanted not in label:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
