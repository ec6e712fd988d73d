"""Runs one command so that nothing it starts outlives it, nor the local stack that started it.

    python -m infra.process_guard --parent-pid <pid> -- <command ...>

The local stack starts each child (API, worker) through this guard, in a new session: the guard leads its own
process group, and the command and everything it starts (the worker's vLLM ``EngineCore`` process) inherit
that group.

- SIGTERM / SIGINT to the guard are forwarded to the command, which stops (the worker drains first); if it
  is still running ``--kill-after`` seconds later it is killed.
- The parent (the stack) dies, even by ``kill -9``: Linux sends the guard ``PARENT_DEATH_SIGNAL``
  (``PR_SET_PDEATHSIG``, set with ``prctl`` through ctypes), and on every platform a ``getppid()`` poll
  notices within ``POLL_SECONDS``. (Linux also sends it when the parent's *thread* that started the guard
  ends; the handler then sees the parent still there and does nothing.) The command then gets SIGTERM and
  ``ORPHAN_GRACE_SECONDS`` to stop (nothing is left to drain to: the stack held the AWS stand-in).
- When the command has ended (or was killed), whatever is left of the group gets SIGTERM, then SIGKILL after
  ``GROUP_GRACE_SECONDS``: an engine process whose worker was killed does not linger (~2.5 GB each).

The guard exits with the command's exit code (128 + signal number when a signal ended it).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

POLL_SECONDS = 0.2
DEFAULT_KILL_AFTER_SECONDS = 30.0
ORPHAN_GRACE_SECONDS = 5.0
GROUP_GRACE_SECONDS = 5.0
PARENT_DEATH_SIGNAL = signal.SIGUSR2
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies; False elsewhere or on failure."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (Linux ``/proc``; empty elsewhere)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.parent.name))
    return members


def stop_group(pgid: int, *, spare: int | None = None, grace_seconds: float = GROUP_GRACE_SECONDS) -> None:
    """SIGTERM every process of group ``pgid`` but ``spare``, then SIGKILL those still alive after
    ``grace_seconds``."""

    def others() -> list[int]:
        return [pid for pid in group_members(pgid) if pid != spare]

    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in others():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + grace_seconds
        while others() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not others():
            return


def exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class Guard:
    def __init__(self, command: Sequence[str], parent_pid: int, kill_after_seconds: float) -> None:
        self._command = list(command)
        self._parent_pid = parent_pid
        self._kill_after_seconds = kill_after_seconds
        self._child: subprocess.Popen[bytes] | None = None
        self._kill_at: float | None = None

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._forward)
        signal.signal(PARENT_DEATH_SIGNAL, self._on_parent_death)
        set_parent_death_signal(PARENT_DEATH_SIGNAL)
        if self._parent_gone():  # it died before the death signal was armed
            return 1
        self._child = subprocess.Popen(self._command)  # same process group as the guard
        try:
            while True:
                try:
                    returncode = self._child.wait(timeout=POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self._parent_gone() and self._kill_at is None:
                    self._stop_child(signal.SIGTERM)
                if self._kill_at is not None and time.monotonic() >= self._kill_at:
                    self._child.kill()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, PARENT_DEATH_SIGNAL):
                signal.signal(signum, signal.SIG_IGN)
            stop_group(os.getpgid(0), spare=os.getpid())
        return exit_code(returncode)

    def _parent_gone(self) -> bool:
        return os.getppid() != self._parent_pid

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_child(signum)

    def _on_parent_death(self, _signum: int, _frame: FrameType | None) -> None:
        if self._parent_gone():
            self._stop_child(signal.SIGTERM)

    def _stop_child(self, signum: int) -> None:
        grace = ORPHAN_GRACE_SECONDS if self._parent_gone() else self._kill_after_seconds
        if self._kill_at is None:
            self._kill_at = time.monotonic() + grace
        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a command; stop its whole process group with it.")
    parser.add_argument("--parent-pid", type=int, required=True, help="stop when this process is gone")
    parser.add_argument("--kill-after", type=float, default=DEFAULT_KILL_AFTER_SECONDS, metavar="SECONDS")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    arguments = parser.parse_args(argv)
    command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
    if not command:
        parser.error("no command given")
    return Guard(command, arguments.parent_pid, arguments.kill_after).run()


if __name__ == "__main__":
    sys.exit(main())
