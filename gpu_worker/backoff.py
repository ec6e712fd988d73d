"""Waiting after consecutive failures (the receive loop, the final write)."""

from __future__ import annotations


class Backoff:
    """Waits after consecutive failures: ``first`` seconds, doubling up to ``cap``."""

    def __init__(self, first: float, cap: float) -> None:
        self._first = max(first, 0.01)
        self._cap = cap
        self._next = self._first

    def next(self) -> float:
        seconds = self._next
        self._next = min(self._cap, self._next * 2)
        return seconds

    def reset(self) -> None:
        self._next = self._first
