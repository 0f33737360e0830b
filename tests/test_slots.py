"""FileSlots: at most N holders at once, across threads and processes alike (one flock per slot)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from otc.slots import FileSlots


def test_no_more_than_count_holders_at_once_and_a_freed_slot_is_taken(tmp_path: Path):
    slots = FileSlots(tmp_path / "slots", 2, poll_seconds=0.001)
    holding, most, lock = [0], [0], threading.Lock()

    def work():
        with slots.hold():
            with lock:
                holding[0] += 1
                most[0] = max(most[0], holding[0])
            time.sleep(0.02)
            with lock:
                holding[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert most[0] == 2 and holding[0] == 0


def test_a_held_slot_is_not_handed_out_twice(tmp_path: Path):
    slots = FileSlots(tmp_path / "slots", 2)
    with slots.hold() as first, slots.hold() as second:
        assert {first, second} == {0, 1}
    with slots.hold() as again:
        assert again == 0
