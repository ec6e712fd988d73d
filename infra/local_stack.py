"""The local stack behind `make run`: no AWS, no GPU, no internet.

    python -m infra.local_stack [--api-port 8000] [--moto-port 5000] [--no-worker] [--sweep-interval 60]
                                [--worker-engine vllm|scripted] [--data-dir .local/state] [--fresh]

1. moto in server mode on 127.0.0.1 (DynamoDB, S3, SQS), resources created from template.yaml; its data
   kept across restarts (and ``kill -9``) in a write-ahead journal in ``--data-dir`` (``infra.local_state``;
   ``--fresh`` starts empty);
2. the API (the Lambda's FastAPI app, composed as ``api.handler`` does) under uvicorn on 127.0.0.1:8000, in a
   child process configured like the Lambda: through ``ASSISTANTS_*`` variables (see ``infra.local_env``);
3. the worker (``python -m gpu_worker.main``, vLLM's CPU build + SmolLM2-135M-Instruct) in a child process,
   and the ingestion worker (``python -m gpu_worker.ingestion.main``: all-MiniLM-L6-v2 on vLLM; with
   ``--no-worker`` the same model in numpy, so files added to vector stores are still ingested);
4. the sweeper, every 60 s, in this process.

Prints the base URL and the dev key (``sk-local-dev`` unless ``ASSISTANTS_DEV_KEY`` is set) once the API
answers, then runs until Ctrl-C / SIGTERM, or until a child process dies, and stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api.playground import PLAYGROUND_PATH
from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.settings import AwsSettings
from infra import local_env, moto_dynamodb, process_guard
from infra.aws_resources import create_resources
from infra.local_env import LocalResources, LocalStackSettings
from infra.local_state import JournaledMotoServer
from infra.local_sweeper import build_local_sweep

log = logging.getLogger("infra.local_stack")

# A zero-argument factory composing the app exactly as the Lambda handler does, from ASSISTANTS_* variables.
API_APP_FACTORY = "infra.local_api:create_local_app"
WORKER_MODULE = "gpu_worker.main"
INGESTION_MODULE = "gpu_worker.ingestion.main"
CHILD_STOP_TIMEOUT_SECONDS = 30.0  # the worker drains in-flight runs first
READY_POLL_SECONDS = 0.2


class LocalStackError(RuntimeError):
    """The local stack could not start (a child process died, the API never answered, no model)."""


def free_port(host: str = local_env.LOCAL_HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class PeriodicTask:
    """Calls ``action`` every ``interval_seconds`` on a daemon thread until stopped; a failing call is logged
    and the next one still happens."""

    def __init__(self, name: str, action: Callable[[], object], interval_seconds: float) -> None:
        self._action = action
        self._interval_seconds = interval_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval_seconds):
            try:
                self._action()
            except Exception:
                log.exception("%s failed; retrying in %.0f s", self._thread.name, self._interval_seconds)


@dataclass
class LocalStack:
    """A running local stack. ``stop()`` ends everything it started (idempotent)."""

    base_url: str
    api_key: str
    resources: LocalResources
    moto_server: JournaledMotoServer
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sweeper: PeriodicTask | None = None
    _stopped: bool = False

    @property
    def playground_url(self) -> str:
        """The browser playground the API serves (no key needed to load it)."""
        return self.base_url.removesuffix("/v1") + PLAYGROUND_PATH

    def exited_child(self) -> tuple[str, int] | None:
        """``(name, exit code)`` of a child process that has ended, if any."""
        for name, process in self.children.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.sweeper is not None:
            self.sweeper.stop()
        # The worker first (it may still write a run), then the API, then the AWS stand-in they both use.
        for name in sorted(self.children, key=lambda child: child != "worker"):
            _stop_child(name, self.children[name])
        self.moto_server.stop()
        log.info("local stack stopped")


def _stop_child(name: str, process: subprocess.Popen[bytes]) -> None:
    """Stop a child's guard (it forwards SIGTERM to the command, then stops the rest of the process group),
    and kill whatever of the group is left after that."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=CHILD_STOP_TIMEOUT_SECONDS + 2 * process_guard.GROUP_GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", name, CHILD_STOP_TIMEOUT_SECONDS)
            process.kill()
            process.wait()
    kill_process_group(process.pid)


def kill_process_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left in the group
        os.killpg(pgid, signal.SIGKILL)


def _start_child(command: Sequence[str], environment: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``command`` under ``infra.process_guard`` in its own session (a terminal Ctrl-C reaches only this
    process, which then stops the children in order): the guard leads the child's process group and stops
    all of it when the command ends, when asked to, or when this process dies, even by ``kill -9``."""
    guarded = [
        sys.executable, "-m", "infra.process_guard", "--parent-pid", str(os.getpid()),
        "--kill-after", str(CHILD_STOP_TIMEOUT_SECONDS), "--", *command,
    ]  # fmt: skip
    return subprocess.Popen(guarded, cwd=local_env.REPO_ROOT, env=environment, start_new_session=True)


def _wait_until_api_answers(
    base_url: str, api_key: str, process: subprocess.Popen[bytes], timeout_seconds: float
) -> None:
    """Poll an authenticated list call until it answers 200 (the app, its settings and moto all work)."""
    deadline = time.monotonic() + timeout_seconds
    last_problem = "no answer yet"
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalStackError(f"the API process exited with code {process.returncode}")
            try:
                response = client.get(
                    f"{base_url}/assistants",
                    params={"limit": 1},
                    headers={"Authorization": f"Bearer {api_key}"},
                )
            except httpx.TransportError as error:
                last_problem = str(error) or type(error).__name__
            else:
                if response.status_code == 200:
                    return
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
            time.sleep(READY_POLL_SECONDS)
    raise LocalStackError(f"the API did not answer within {timeout_seconds:.0f} s ({last_problem})")


def _provisioning_clients(endpoint_url: str) -> AwsClients:
    """Clients that create the resources. Their names do not exist yet and client creation reads only the
    endpoint and the region, so the name fields stay empty."""
    settings = AwsSettings.model_validate(
        {
            "table_name": "",
            "bucket_name": "",
            "run_queue_url": "",
            **local_env.aws_settings_values(endpoint_url),
        }
    )
    return make_aws_clients(settings)


def _model_folder(model_path: str) -> Path:
    folder = (local_env.REPO_ROOT / model_path).resolve()
    if not (folder / "config.json").is_file():
        raise LocalStackError(f"no converted model in {folder}: run `make model` (or start with --no-worker)")
    return folder


def start_local_stack(
    *,
    api_port: int = local_env.DEFAULT_API_PORT,
    moto_port: int = local_env.DEFAULT_MOTO_PORT,
    worker: bool = True,
    worker_engine: str = "vllm",
    sweep_interval_seconds: float = local_env.DEFAULT_SWEEP_INTERVAL_SECONDS,
    ready_timeout_seconds: float = 60.0,
    state_dir: Path | None = None,
    fresh: bool = False,
    ingestion_embedder: str | None = None,
) -> LocalStack:
    """Start moto, the resources, the API, the worker (optional) and the sweeper timer; returns once the API
    answers an authenticated request. Port 0 picks a free port. With ``state_dir``, the AWS state of an
    earlier stack there is restored first (unless ``fresh``: then it is deleted) and every write is kept.
    ``ingestion_embedder`` ("vllm", "numpy"): the ingestion worker's embedder; None: "vllm" with the worker,
    no ingestion worker without it."""
    settings = LocalStackSettings()
    host = local_env.LOCAL_HOST
    api_port = api_port or free_port(host)
    moto_port = moto_port or free_port(host)
    if worker and worker_engine == "vllm":
        _model_folder(settings.model_path)

    local_env.use_moto_credentials()
    moto_dynamodb.install()  # atomic DynamoDB requests, transactions that stay cheap as the table grows
    if fresh and state_dir is not None:
        shutil.rmtree(state_dir, ignore_errors=True)
    moto_server = JournaledMotoServer(
        ip_address=host, port=moto_port, state_dir=state_dir, region=local_env.LOCAL_REGION
    )
    moto_server.start()
    endpoint_url = f"http://{host}:{moto_port}"
    stack: LocalStack | None = None
    try:
        names = create_resources(_provisioning_clients(endpoint_url), prefix=local_env.RESOURCE_PREFIX)
        replayed = moto_server.restore_and_journal()
        if state_dir is not None:
            log.info("state in %s: %d earlier writes restored", state_dir, replayed)
        resources = LocalResources(
            endpoint_url=endpoint_url,
            table_name=names.table_name,
            bucket_name=names.bucket_name,
            run_queue_url=names.run_queue_url,
            ingestion_queue_url=names.ingestion_queue_url,
        )
        stack = LocalStack(
            base_url=f"http://{host}:{api_port}/v1",
            api_key=settings.dev_key,
            resources=resources,
            moto_server=moto_server,
        )
        api_command = [
            sys.executable, "-m", "uvicorn", "--factory", API_APP_FACTORY,
            "--host", host, "--port", str(api_port), "--log-level", "warning",
        ]  # fmt: skip
        api_environment = local_env.api_environment(resources, settings.dev_key)
        stack.children["api"] = _start_child(
            api_command, local_env.child_process_environment(api_environment)
        )
        if worker:
            worker_environment = local_env.worker_environment(resources, settings.model_path)
            stack.children["worker"] = _start_child(
                [sys.executable, "-m", WORKER_MODULE, "--engine", worker_engine],
                local_env.child_process_environment(worker_environment),
            )
        if ingestion_embedder is None and worker:
            ingestion_embedder = "vllm"
        if ingestion_embedder is not None:
            # Vector-store file ingestion (issue 12): parse, chunk, embed (all-MiniLM-L6-v2), index.
            stack.children["ingestion"] = _start_child(
                [sys.executable, "-m", INGESTION_MODULE, "--embedder", ingestion_embedder],
                local_env.child_process_environment(local_env.ingestion_environment(resources)),
            )
        stack.sweeper = PeriodicTask("sweeper", build_local_sweep(resources), sweep_interval_seconds)
        stack.sweeper.start()
        _wait_until_api_answers(stack.base_url, stack.api_key, stack.children["api"], ready_timeout_seconds)
    except BaseException:
        if stack is not None:
            stack.stop()
        else:
            moto_server.stop()
        raise
    return stack


def _banner(stack: LocalStack) -> str:
    worker = stack.children.get("worker")
    worker_line = (
        f"started (pid {worker.pid}); it loads the model before taking runs"
        if worker is not None
        else "not started (--no-worker): runs stay queued"
    )
    ingestion = stack.children.get("ingestion")
    ingestion_line = f"started (pid {ingestion.pid})" if ingestion is not None else "not started"
    return "\n".join(
        [
            "",
            "Local Assistants API ready",
            f"  base_url : {stack.base_url}",
            f"  api_key  : {stack.api_key}",
            f"  browser  : {stack.playground_url} (the playground: chat with an assistant, streamed)",
            f"  worker   : {worker_line}",
            f"  ingestion: {ingestion_line} (vector store files: parse, chunk, embed, index)",
            f"  AWS      : moto at {stack.resources.endpoint_url} (table {stack.resources.table_name})",
            f"  state    : {_state_line(stack.moto_server.state_dir)}",
            "  Ctrl-C stops everything.",
            "",
        ]
    )


def _state_line(state_dir: Path | None) -> str:
    if state_dir is None:
        return "in memory (lost when the stack stops)"
    return f"kept in {state_dir} across restarts (--fresh starts empty)"


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the Assistants API locally (moto + uvicorn + worker).")
    parser.add_argument("--api-port", type=int, default=local_env.DEFAULT_API_PORT)
    parser.add_argument("--moto-port", type=int, default=local_env.DEFAULT_MOTO_PORT)
    parser.add_argument("--no-worker", action="store_true", help="API only: runs stay queued")
    parser.add_argument(
        "--worker-engine",
        choices=["vllm", "scripted"],
        default="vllm",
        help="scripted: a deterministic echo engine instead of the model (fast; for tests)",
    )
    parser.add_argument(
        "--sweep-interval", type=float, default=local_env.DEFAULT_SWEEP_INTERVAL_SECONDS, metavar="SECONDS"
    )
    parser.add_argument("--ready-timeout", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=local_env.REPO_ROOT / local_env.DEFAULT_STATE_DIR,
        help="where the AWS state is kept across restarts (default: %(default)s)",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the kept state first: start empty")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for chatty in ("werkzeug", "httpx", "botocore.credentials"):  # moto's request log, the readiness polls
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # SIGTERM behaves like Ctrl-C: both unwind through the `finally` below. SIGINT explicitly too: a shell
    # starts a background job (`make run &`) with SIGINT ignored, and Python keeps an ignored SIGINT ignored.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack: LocalStack | None = None
    exit_code = 0
    try:
        stack = start_local_stack(
            api_port=arguments.api_port,
            moto_port=arguments.moto_port,
            worker=not arguments.no_worker,
            worker_engine=arguments.worker_engine,
            # Without the worker (no vLLM), files are still ingested: the embedding model in numpy.
            ingestion_embedder="numpy" if arguments.no_worker else "vllm",
            sweep_interval_seconds=arguments.sweep_interval,
            ready_timeout_seconds=arguments.ready_timeout,
            state_dir=arguments.data_dir,
            fresh=arguments.fresh,
        )
        print(_banner(stack), flush=True)
        while (exited := stack.exited_child()) is None:
            time.sleep(0.5)
        name, code = exited
        log.error("%s exited with code %s; stopping the local stack", name, code)
        exit_code = 1
    except LocalStackError as error:
        log.error("%s", error)
        exit_code = 1
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        if stack is not None:
            stack.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
