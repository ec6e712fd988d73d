"""Waiting on progress, not on wall time: a loaded machine makes everything slower, but a hang makes nothing
change. ``ProgressWatch`` remembers the last time any observed state changed; a wait fails only when nothing
changed for ``stall_seconds``, however long the whole wait took."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

NO_PROGRESS_SECONDS = 60.0  # nothing observed changed for this long: a hang (a safety net, not a timing)


class ProgressWatch:
    def __init__(
        self, stall_seconds: float = NO_PROGRESS_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._states: dict[Hashable, Hashable] = {}
        self._last_change = clock()

    def observe(self, key: Hashable, state: Hashable) -> None:
        """Record what ``key`` looks like now; a new key or a changed state is progress."""
        if key not in self._states or self._states[key] != state:
            self._states[key] = state
            self._last_change = self._clock()

    def stalled_seconds(self) -> float:
        return self._clock() - self._last_change

    def assert_progressing(self, what: str) -> None:
        stalled = self.stalled_seconds()
        assert stalled < self.stall_seconds, f"no progress for {stalled:.1f} s while waiting for {what}"

    async def wait_until(self, condition: Callable[[], bool], what: str, poll_seconds: float = 0.01) -> None:
        """Poll ``condition`` until it holds; fail only if nothing observed changed for ``stall_seconds``."""
        while not condition():
            self.assert_progressing(what)
            await asyncio.sleep(poll_seconds)
