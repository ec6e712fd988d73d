"""infra.process_guard: nothing a guarded command starts outlives the command, the guard, or the guard's
parent, whichever goes first: the command killed (-9), the guard stopped (SIGTERM / SIGINT), the parent
killed (-9). A "grandchild" stands in for the worker's vLLM engine process (same process group)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from infra import local_env, process_guard
from tests.processes import alive, eventually

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups via /proc")

# A command that starts a long-lived grandchild in its own process group (as vLLM starts EngineCore), prints
# both pids, and exits 0 on SIGTERM (as the worker does after draining).
COMMAND = r"""
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(f"pids {__import__('os').getpid()} {grandchild.pid}", flush=True)
time.sleep(600)
"""
PYTHON_COMMAND = [sys.executable, "-c", COMMAND]
# A stand-in for the local stack: starts the guard in a new session, prints the guard's pid, sleeps.
PARENT = r"""
import os, subprocess, sys, time
guard = subprocess.Popen(
    [sys.executable, "-m", "infra.process_guard", "--parent-pid", str(os.getpid()), "--", *sys.argv[1:]],
    start_new_session=True,
)
print(f"guard {guard.pid}", flush=True)
time.sleep(600)
"""
# How long a process may take to disappear: a safety net for a loaded machine, not a timing assertion.
GONE_WITHIN_SECONDS = 60.0


def wait_gone(pids: list[int]) -> list[int]:
    """The pids still alive after waiting for them to go (empty when all went)."""
    eventually(lambda: not any(alive(pid) for pid in pids), GONE_WITHIN_SECONDS, poll_seconds=0.05)
    return [pid for pid in pids if alive(pid)]


def read_words(stream: object, prefix: str) -> list[int]:
    for line in stream:  # type: ignore[attr-defined]
        if line.startswith(prefix):
            return [int(word) for word in line.split()[1:]]
    raise AssertionError(f"no {prefix!r} line")


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running afterwards are killed with their process groups."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_guard(started: list[subprocess.Popen[str]]) -> tuple[subprocess.Popen[str], int, int]:
    guard = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.process_guard",
            "--parent-pid",
            str(os.getpid()),
            "--",
            *PYTHON_COMMAND,
        ],
        cwd=local_env.REPO_ROOT,
        env=local_env.child_process_environment({}),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    started.append(guard)
    child, grandchild = read_words(guard.stdout, "pids")
    return guard, child, grandchild


def test_a_killed_command_takes_its_process_group_with_it(started: list[subprocess.Popen[str]]) -> None:
    guard, child, grandchild = start_guard(started)
    assert os.getpgid(grandchild) == guard.pid
    os.kill(child, signal.SIGKILL)
    assert guard.wait(timeout=GONE_WITHIN_SECONDS) == 128 + signal.SIGKILL
    assert wait_gone([grandchild]) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_reaches_the_command_and_the_rest_of_the_group_stops(
    started: list[subprocess.Popen[str]], signum: int
) -> None:
    guard, child, grandchild = start_guard(started)
    guard.send_signal(signum)
    expected = 0 if signum == signal.SIGTERM else 128 + signal.SIGINT  # the command handles only SIGTERM
    assert guard.wait(timeout=GONE_WITHIN_SECONDS) == expected
    assert wait_gone([child, grandchild]) == []


def test_a_parent_killed_with_sigkill_leaves_no_process_behind(started: list[subprocess.Popen[str]]) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *PYTHON_COMMAND],
        cwd=local_env.REPO_ROOT,
        env=local_env.child_process_environment({}),
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(parent)
    (guard,) = read_words(parent.stdout, "guard")
    child, grandchild = read_words(parent.stdout, "pids")
    parent.kill()
    parent.wait()
    try:
        assert wait_gone([guard, child, grandchild]) == []
    finally:
        process_guard.stop_group(guard, grace_seconds=1.0)


def test_the_exit_code_of_a_signalled_command_is_128_plus_the_signal() -> None:
    assert process_guard.exit_code(-signal.SIGKILL) == 137
    assert process_guard.exit_code(3) == 3


def test_group_members_lists_this_test_process_group() -> None:
    assert os.getpid() in process_guard.group_members(os.getpgid(0))
