"""The browser test's world: the e2e local stack (moto server + the API app under uvicorn), an in-process
worker consuming the run queue with the deterministic scripted engine, a plain static server on another
port (to open the page cross-origin), and the browser runtime (Debian's Chromium + playwright-core from
``make browser``). Without that runtime the test fails under CI=true and is skipped elsewhere."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from api.playground import PLAYGROUND_DIRECTORY
from assistants_core.settings import WorkerSettings
from gpu_worker.consumer import RunConsumer
from gpu_worker.engines.scripted import ScriptedEngine
from gpu_worker.wiring import build_consumer
from tests.e2e.conftest import HOST, LocalStackHandle, running_local_stack

BROWSER_DIR = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_CORE = BROWSER_DIR / "node_modules" / "playwright-core" / "package.json"
# Paces the scripted reply so the page visibly renders it token by token.
TOKEN_DELAY_SECONDS = 0.05


@dataclass(frozen=True)
class BrowserRuntime:
    node: str
    driver: Path


@pytest.fixture(scope="session")
def browser_runtime() -> BrowserRuntime:
    node = shutil.which("node")
    missing = [
        what
        for what, present in (
            (f"Chromium at {CHROMIUM}", CHROMIUM.is_file()),
            ("node", node is not None),
            (f"playwright-core in {PLAYWRIGHT_CORE.parent.parent}", PLAYWRIGHT_CORE.is_file()),
        )
        if not present
    ]
    if missing:
        reason = f"browser runtime missing ({', '.join(missing)}): run `make browser`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    assert node is not None
    return BrowserRuntime(node=node, driver=BROWSER_DIR / "drive_playground.mjs")


class _ScriptedWorker:
    """The worker's consumer (wired as ``gpu_worker.main`` wires it) on its own thread and event loop."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: RunConsumer | None = None
        self._thread = threading.Thread(target=self._run, name="browser-test-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the scripted worker did not start")

    def stop(self) -> None:
        if self._loop is not None and self._consumer is not None:
            self._loop.call_soon_threadsafe(self._consumer.stop)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            engine = ScriptedEngine(token_delay_seconds=TOKEN_DELAY_SECONDS)
            self._consumer = build_consumer(self._settings, engine, worker_id="browser-test-worker")
            self._ready.set()
            await self._consumer.run_forever()

        asyncio.run(serve())


@pytest.fixture(scope="module")
def playground_stack() -> Iterator[LocalStackHandle]:
    """The e2e stack for this module only: stopped (and its variables unset) before other suites run."""
    with running_local_stack() as handle:
        yield handle


@pytest.fixture(scope="module")
def scripted_worker(playground_stack: LocalStackHandle) -> Iterator[None]:
    # Resource names and the moto endpoint come from the stack's ASSISTANTS_* environment; the scripted
    # engine loads no model.
    settings = WorkerSettings(  # type: ignore[call-arg]
        model_path="scripted", receive_wait_seconds=1, heartbeat_seconds=1.0, cancel_poll_seconds=0.1
    )
    worker = _ScriptedWorker(settings)
    worker.start()
    try:
        yield
    finally:
        worker.stop()


class _QuietStaticHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def other_origin() -> Iterator[str]:
    """The playground's files served by a plain static server on another port: another origin."""
    handler = functools.partial(_QuietStaticHandler, directory=str(PLAYGROUND_DIRECTORY))
    server = ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="other-origin", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
