"""The local stack with the real vLLM worker: its engine process (``VLLM::EngineCore``, ~2.5 GB) never
outlives the worker, and a stop prints no ``AsyncLLM.__del__`` traceback.

Slow (the model loads twice, ~10-30 s each on CPU), so marked ``real_engine``."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import local_env
from infra.local_stack import free_port
from tests.processes import alive, children, descendants, eventually

MODEL_DIR = local_env.REPO_ROOT / local_env.DEFAULT_MODEL_PATH
# Safety nets for a loaded machine (the engine may take minutes to load), not timing assertions.
ENGINE_START_SECONDS = 600.0
STOP_SECONDS = 120.0
STACK_COMMAND = [sys.executable, "-m", "infra.local_stack"]

pytestmark = [
    pytest.mark.real_engine,
    pytest.mark.skipif(not (MODEL_DIR / "config.json").is_file(), reason="no converted model: `make model`"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed: `make engine`"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Stack:
    """``python -m infra.local_stack`` with the real worker, its output collected on a thread."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [*STACK_COMMAND, "--api-port", str(free_port()), "--moto-port", str(free_port())],
            cwd=local_env.REPO_ROOT,
            env=local_env.child_process_environment({}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def worker_and_engine(self) -> tuple[int, int]:
        """(the worker process, its engine process) once the engine process exists."""
        found: list[tuple[int, int]] = []

        def engine_started() -> bool:
            assert self.process.poll() is None, "".join(self.output[-50:])
            workers = [
                pid
                for guard in children(self.process.pid)
                for pid in children(guard)
                if "gpu_worker.main" in _command_line(pid)
            ]
            found[:] = [(worker, engine) for worker in workers for engine in children(worker)]
            return bool(found)

        assert eventually(engine_started, ENGINE_START_SECONDS), "no engine process started"
        return found[0]

    def text(self) -> str:
        self._reader.join(timeout=STOP_SECONDS)
        return "".join(self.output)


@pytest.fixture
def stack() -> Iterator[Stack]:
    started = Stack()
    yield started
    for pid in [started.process.pid, *descendants(started.process.pid)]:  # a failed test leaves nothing
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    started.process.wait()


def test_a_stop_shuts_the_engine_down_without_a_traceback(stack: Stack) -> None:
    worker, engine = stack.worker_and_engine()
    assert eventually(lambda: "worker started" in "".join(stack.output), ENGINE_START_SECONDS)
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=STOP_SECONDS) == 0
    text = stack.text()
    assert "Traceback" not in text and "Exception ignored" not in text, text[-4000:]
    assert not alive(worker) and not alive(engine)


def test_a_killed_worker_leaves_no_engine_process(stack: Stack) -> None:
    worker, engine = stack.worker_and_engine()
    os.kill(worker, signal.SIGKILL)
    assert eventually(lambda: not alive(engine), STOP_SECONDS), f"engine {engine} outlived its worker"
    assert stack.process.wait(timeout=STOP_SECONDS) == 1  # the stack stops when a child dies
