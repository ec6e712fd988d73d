"""The reliability suite waits on progress: slow but moving passes, stalled fails (fake clock)."""

from __future__ import annotations

import asyncio

import pytest

from tests.reliability.progress import ProgressWatch


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_wait_that_keeps_changing_passes_long_after_the_stall_window() -> None:
    clock = StepClock()
    watch = ProgressWatch(stall_seconds=5.0, clock=clock)
    polls = 0

    def condition() -> bool:
        nonlocal polls
        polls += 1
        clock.now += 3.0  # each poll takes 3 s of "wall time" (60 polls: 180 s in all)
        watch.observe("run", polls)  # and something changed every time
        return polls >= 60

    asyncio.run(watch.wait_until(condition, "a slow run", poll_seconds=0))
    assert clock.now == 180.0


def test_a_stalled_wait_fails_after_the_stall_window() -> None:
    clock = StepClock()
    watch = ProgressWatch(stall_seconds=5.0, clock=clock)
    watch.observe("run", "in_progress")

    def condition() -> bool:
        clock.now += 1.0
        watch.observe("run", "in_progress")  # the same state again is no progress
        return False

    with pytest.raises(AssertionError, match=r"no progress for 5\.0 s while waiting for a stuck run"):
        asyncio.run(watch.wait_until(condition, "a stuck run", poll_seconds=0))
