"""The local stack (`make run`) without the worker, on free ports: moto server + resources from template.yaml,
the API under uvicorn in its own process, the sweeper timer; then a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.auth import hash_api_key
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.services.models import ModelCatalog
from infra import local_env
from infra.local_stack import LocalStack, LocalStackError, PeriodicTask, free_port, start_local_stack
from tests.processes import alive, descendants, eventually

REPO_ROOT = Path(__file__).resolve().parents[3]
# The sweeper must expire a run past its expiry within this window (generous: the machine may be busy).
EVENTUAL_TIMEOUT_SECONDS = 30.0


def _eventually(condition: Callable[[], bool], timeout_seconds: float = EVENTUAL_TIMEOUT_SECONDS) -> bool:
    return eventually(condition, timeout_seconds)


def _port_accepts_connections(port: int) -> bool:
    try:
        httpx.get(f"http://{local_env.LOCAL_HOST}:{port}/", timeout=1.0)
    except httpx.TransportError:
        return False
    return True


@pytest.fixture
def moto_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for moto; every variable the stack sets in this process is restored afterwards."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("ASSISTANTS_DEV_KEY", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Inherited by the API process: runs expire a second after creation, so the sweeper has work to do.
    monkeypatch.setenv("ASSISTANTS_RUN_EXPIRY_SECONDS", "1")


@pytest.fixture
def stack(moto_environment: None) -> Iterator[LocalStack]:
    started = start_local_stack(api_port=0, moto_port=0, worker=False, sweep_interval_seconds=0.5)
    try:
        yield started
    finally:
        started.stop()


def test_serves_the_api_with_the_dev_key_and_stops_cleanly(stack: LocalStack) -> None:
    assert stack.api_key == local_env.DEFAULT_DEV_KEY
    assert stack.base_url.startswith(f"http://{local_env.LOCAL_HOST}:")
    assert stack.base_url.endswith("/v1")
    headers = {"Authorization": f"Bearer {stack.api_key}", "OpenAI-Beta": "assistants=v2"}

    created = httpx.post(
        f"{stack.base_url}/assistants",
        json={"model": "SmolLM2-135M-Instruct", "name": "local"},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    assistant = created.json()
    assert assistant["object"] == "assistant"
    assert assistant["id"].startswith("asst_")
    listed = httpx.get(f"{stack.base_url}/assistants", headers=headers).json()
    assert [item["id"] for item in listed["data"]] == [assistant["id"]]

    unauthenticated = httpx.get(f"{stack.base_url}/assistants")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["type"] == "invalid_request_error"

    api_process = stack.children["api"]
    api_port = int(stack.base_url.rsplit(":", 1)[1].split("/")[0])
    stack.stop()
    assert api_process.poll() is not None
    assert not _port_accepts_connections(api_port)
    stack.stop()  # idempotent


def test_sweeper_timer_expires_a_run_past_its_expiry(stack: LocalStack) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}", "OpenAI-Beta": "assistants=v2"}
    assistant = httpx.post(
        f"{stack.base_url}/assistants", json={"model": "SmolLM2-135M-Instruct"}, headers=headers
    ).json()
    run = httpx.post(
        f"{stack.base_url}/threads/runs",
        json={"assistant_id": assistant["id"], "thread": {"messages": [{"role": "user", "content": "hi"}]}},
        headers=headers,
    ).json()
    assert run["status"] == "queued", run  # no worker: only the sweeper can move it

    def run_status() -> str:
        url = f"{stack.base_url}/threads/{run['thread_id']}/runs/{run['id']}"
        status: str = httpx.get(url, headers=headers).json()["status"]
        return status

    assert _eventually(lambda: run_status() == "expired"), run_status()


def test_worker_needs_the_converted_model(moto_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANTS_MODEL_PATH", ".cache/models/does-not-exist")
    with pytest.raises(LocalStackError, match="make model"):
        start_local_stack(api_port=0, moto_port=0, worker=True)


def test_local_api_runs_openai_model_names_on_the_served_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANTS_MODEL_ALIASES", raising=False)
    resources = local_env.LocalResources("http://127.0.0.1:1", "table", "bucket", "http://127.0.0.1:1/q")
    environment = local_env.api_environment(resources, "sk-custom")
    catalog = ModelCatalog.from_settings(
        environment["ASSISTANTS_SERVED_MODELS"], environment["ASSISTANTS_MODEL_ALIASES"]
    )
    for name in ("gpt-4o", "gpt-4.1-mini", local_env.SERVED_MODEL):
        assert catalog.require_served(name) == local_env.SERVED_MODEL
    with pytest.raises(InvalidRequestError):
        catalog.require_served("not-a-model")


def test_numpy_embedding_processes_run_single_threaded_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    resources = local_env.LocalResources("http://127.0.0.1:1", "table", "bucket", "http://127.0.0.1:1/q")
    assert local_env.api_environment(resources, "sk-custom")["OPENBLAS_NUM_THREADS"] == "1"
    assert local_env.ingestion_environment(resources)["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")  # a shell setting wins
    assert local_env.ingestion_environment(resources)["OPENBLAS_NUM_THREADS"] == "4"


def test_api_environment_hashes_the_dev_key_for_the_local_tenant() -> None:
    resources = local_env.LocalResources("http://127.0.0.1:1", "table", "bucket", "http://127.0.0.1:1/q")
    environment = local_env.api_environment(resources, "sk-custom")
    assert environment["ASSISTANTS_API_KEY_HASHES"] == f"{hash_api_key('sk-custom')}:{local_env.LOCAL_TENANT}"
    assert "sk-custom" not in environment.values()
    assert environment["ASSISTANTS_AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"


def test_dev_key_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANTS_DEV_KEY", "sk-mine")
    assert local_env.LocalStackSettings().dev_key == "sk-mine"
    monkeypatch.delenv("ASSISTANTS_DEV_KEY")
    assert local_env.LocalStackSettings().dev_key == "sk-local-dev"


def test_worker_environment_carries_the_model_and_cpu_engine_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "4")  # a shell setting wins over the CPU default
    resources = local_env.LocalResources("http://127.0.0.1:1", "table", "bucket", "http://127.0.0.1:1/q")
    environment = local_env.worker_environment(resources, ".cache/models/SmolLM2-135M-Instruct")
    assert environment["ASSISTANTS_MODEL_PATH"] == str(REPO_ROOT / ".cache/models/SmolLM2-135M-Instruct")
    assert environment["ASSISTANTS_ENGINE_DTYPE"] == "float32"
    assert environment["ASSISTANTS_EMBEDDING_MODEL_PATH"] == local_env.embedding_model_path()  # file_search
    assert environment["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert "VLLM_CPU_KVCACHE_SPACE" not in environment
    assert local_env.child_process_environment(environment)["VLLM_CPU_KVCACHE_SPACE"] == "4"


def test_periodic_task_keeps_running_after_a_failing_call() -> None:
    calls: list[int] = []
    third_call = threading.Event()

    def action() -> None:
        calls.append(1)
        if len(calls) == 3:
            third_call.set()
        if len(calls) == 1:
            raise RuntimeError("first sweep fails")

    task = PeriodicTask("test-task", action, 0.01)
    task.start()
    try:
        assert third_call.wait(EVENTUAL_TIMEOUT_SECONDS)
    finally:
        task.stop()
    count_after_stop = len(calls)
    time.sleep(0.05)
    assert len(calls) == count_after_stop


def _start_stack_command(*arguments: str, ignore_sigint: bool = False) -> tuple[subprocess.Popen[str], str]:
    """``python -m infra.local_stack <arguments>`` (as a shell starts a background job, with SIGINT ignored,
    when ``ignore_sigint``) and its banner once it is ready."""
    command = [sys.executable, "-m", "infra.local_stack", *arguments]
    if ignore_sigint:  # `make run &`: the shell starts the job with SIGINT ignored, and exec keeps that
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=local_env.child_process_environment({}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    banner: list[str] = []
    for line in process.stdout:
        banner.append(line)
        if "Ctrl-C" in line:
            break
    return process, "".join(banner)


def _stop_stack_command(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def _ports_closed(*ports: int) -> bool:
    return not any(_port_accepts_connections(port) for port in ports)


def test_command_prints_ready_and_stops_everything_on_sigterm(moto_environment: None) -> None:
    api_port, moto_port = free_port(), free_port()
    process, text = _start_stack_command(
        "--no-worker", "--api-port", str(api_port), "--moto-port", str(moto_port)
    )
    try:
        assert "ready" in text, text
        assert f"http://127.0.0.1:{api_port}/v1" in text
        assert f"http://127.0.0.1:{api_port}/playground" in text
        assert local_env.DEFAULT_DEV_KEY in text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        _stop_stack_command(process)
    assert not _port_accepts_connections(api_port)
    assert not _port_accepts_connections(moto_port)


def test_command_started_in_the_background_stops_on_sigint(moto_environment: None) -> None:
    """A background job starts with SIGINT ignored; the stack still stops on it (it ignored it before)."""
    api_port, moto_port = free_port(), free_port()
    process, text = _start_stack_command(
        "--no-worker", "--api-port", str(api_port), "--moto-port", str(moto_port), ignore_sigint=True
    )
    try:
        assert "ready" in text, text
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        _stop_stack_command(process)
    assert _eventually(lambda: _ports_closed(api_port, moto_port))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_stack_killed_with_sigkill_leaves_no_process_behind(moto_environment: None) -> None:
    """kill -9 of the stack: its API and worker (and what they started) stop too; they outlived it before."""
    api_port, moto_port = free_port(), free_port()
    process, text = _start_stack_command(
        "--worker-engine", "scripted", "--api-port", str(api_port), "--moto-port", str(moto_port)
    )
    children: list[int] = []
    try:
        assert "ready" in text, text
        children = descendants(process.pid)
        assert len(children) >= 2, "the API and the worker run in child processes"
    finally:
        _stop_stack_command(process)
    try:
        assert _eventually(lambda: not [pid for pid in children if alive(pid)]), [
            pid for pid in children if alive(pid)
        ]
        assert _eventually(lambda: _ports_closed(api_port))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_the_stack_without_the_worker_still_ingests_and_searches_vector_store_files(
    moto_environment: None, tmp_path: Path
) -> None:
    """`make run-api` (--no-worker: no vLLM) starts the ingestion worker with the model in numpy."""
    from openai import OpenAI

    api_port, moto_port = free_port(), free_port()
    process, text = _start_stack_command(
        "--no-worker", "--api-port", str(api_port), "--moto-port", str(moto_port),
        "--data-dir", str(tmp_path / "state"), "--fresh",
    )  # fmt: skip
    try:
        assert "ready" in text, text
        assert "ingestion: started" in text, text
        client = OpenAI(base_url=f"http://127.0.0.1:{api_port}/v1", api_key=local_env.DEFAULT_DEV_KEY)
        uploaded = client.files.create(
            file=("guide.md", b"# Passwords\nTo reset your password, open Settings and choose Reset."),
            purpose="assistants",
        )
        store = client.vector_stores.create(name="docs", file_ids=[uploaded.id])

        def ingested() -> bool:
            return (
                client.vector_stores.files.retrieve(uploaded.id, vector_store_id=store.id).status
                != "in_progress"
            )

        assert _eventually(ingested, 120.0)
        assert (
            client.vector_stores.files.retrieve(uploaded.id, vector_store_id=store.id).status == "completed"
        )
        results = client.vector_stores.search(store.id, query="how do I reset my password?")
        assert [result.file_id for result in results.data] == [uploaded.id]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        _stop_stack_command(process)
    assert _eventually(lambda: _ports_closed(api_port, moto_port))
