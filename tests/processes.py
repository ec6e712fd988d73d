"""Process-tree helpers for the tests that start and kill processes (Linux ``/proc``), and a polling wait.

Waits are safety nets for a loaded machine: they end as soon as the condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def eventually(condition: Callable[[], bool], seconds: float, poll_seconds: float = 0.2) -> bool:
    """Whether ``condition`` held within ``seconds`` (polled)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_seconds)
    return condition()


def _stat_fields(pid: int) -> list[str] | None:
    """``state ppid pgrp ...`` of ``/proc/<pid>/stat`` (the command name may hold spaces and parentheses)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def parents() -> dict[int, int]:
    """Parent pid of every live process."""
    found: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[0] != "Z":
            found[int(entry.name)] = int(fields[1])
    return found


def children(pid: int) -> list[int]:
    return [child for child, parent in parents().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    links = parents()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        frontier = [child for child, parent in links.items() if parent in frontier]
        found += frontier
    return found
