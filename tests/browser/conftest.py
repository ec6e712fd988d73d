"""The browser test's world: the e2e local stack (moto server + the API app under uvicorn), an in-process
worker consuming the run queue with the deterministic scripted engine, a plain static server on another
port (to open the page cross-origin), and the browser runtime (Debian's Chromium + playwright-core from
``make browser``). Without that runtime the test fails under CI=true and is skipped elsewhere."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from api.playground import PLAYGROUND_DIRECTORY
from gpu_worker.engines.scripted import ScriptedEngine
from tests.e2e.conftest import HOST, LocalStackHandle, running_local_stack
from tests.e2e.streaming_worker import running_worker, worker_settings

BROWSER_DIR = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_CORE = BROWSER_DIR / "node_modules" / "playwright-core" / "package.json"
# Paces the scripted reply so the page visibly renders it token by token.
TOKEN_DELAY_SECONDS = 0.05


@dataclass(frozen=True)
class BrowserRuntime:
    node: str
    driver: Path


def run_driver(runtime: BrowserRuntime, script: str, options: dict[str, Any], *, timeout: float) -> Any:
    """Run a node driver of this folder (chromium.mjs protocol): the JSON it printed last."""
    completed = subprocess.run(
        [runtime.node, str(BROWSER_DIR / script), json.dumps(options)],
        cwd=BROWSER_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, f"browser driver failed:\n{completed.stderr}\n{completed.stdout}"
    return json.loads(completed.stdout.strip().splitlines()[-1])


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


@pytest.fixture(scope="module")
def playground_stack() -> Iterator[LocalStackHandle]:
    """The e2e stack for this module only: stopped (and its variables unset) before other suites run."""
    with running_local_stack() as handle:
        yield handle


@pytest.fixture(scope="module")
def scripted_worker(playground_stack: LocalStackHandle) -> Iterator[None]:
    # Resource names and the moto endpoint come from the stack's ASSISTANTS_* environment; the scripted
    # engine loads no model.
    with running_worker(
        lambda: ScriptedEngine(token_delay_seconds=TOKEN_DELAY_SECONDS),
        worker_settings(),
        worker_id="browser-test-worker",
    ):
        yield


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
