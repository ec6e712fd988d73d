"""The local stack as the benchmarks use it: ``infra.local_stack.start_local_stack`` without the worker
(moto in this process, the API under uvicorn in a child process), plus settings for the same resources so a
benchmark can also compose the API or a worker in-process, on clients whose calls it counts."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from api.auth import hash_api_key
from assistants_core.adapters.aws import make_aws_clients
from assistants_core.settings import ApiSettings, WorkerSettings
from infra import local_env
from infra.aws_resources import create_resources
from infra.local_env import LocalResources
from infra.local_stack import LocalStack, free_port, start_local_stack

NO_SWEEPS_SECONDS = 24 * 3600.0  # the sweeper timer never fires during a benchmark
IN_PROCESS_BASE_URL = "http://in-process/v1"
HTTP_TIMEOUT_SECONDS = 60.0


# Counted (the writes are part of each request's cost) but never refused at benchmark rates and run counts.
BENCH_QUOTAS = {"tenant_requests_per_minute": 10**9, "tenant_max_active_runs": 10**6}


@contextmanager
def running_api_stack() -> Iterator[LocalStack]:
    """moto + resources + the API on free loopback ports, no worker; stopped when the block ends."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request log
    local_env.raise_quotas_for_load(
        requests_per_minute=BENCH_QUOTAS["tenant_requests_per_minute"],
        max_active_runs=BENCH_QUOTAS["tenant_max_active_runs"],
    )
    stack = start_local_stack(api_port=0, moto_port=0, worker=False, sweep_interval_seconds=NO_SWEEPS_SECONDS)
    try:
        yield stack
    finally:
        stack.stop()


_MOTO_CHILD = """
import logging, sys
from infra import moto_dynamodb
logging.getLogger("werkzeug").setLevel(logging.WARNING)
from moto.server import ThreadedMotoServer
moto_dynamodb.install()
server = ThreadedMotoServer(ip_address=sys.argv[1], port=int(sys.argv[2]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()  # until the parent closes stdin (or dies)
server.stop()
"""


@contextmanager
def moto_in_child_process() -> Iterator[LocalResources]:
    """moto (DynamoDB/S3/SQS) in its own process, with the stack's resources: a benchmark that measures
    the CPU of the worker in this process does not share its interpreter (and GIL) with moto."""
    host, port = local_env.LOCAL_HOST, free_port()
    local_env.use_moto_credentials()
    child = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD, host, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the moto process did not start")
        endpoint = f"http://{host}:{port}"
        provisioning = WorkerSettings.model_validate(
            {"table_name": "", "bucket_name": "", "run_queue_url": "", "model_path": "",
             **local_env.aws_settings_values(endpoint)}
        )  # fmt: skip
        names = create_resources(make_aws_clients(provisioning), prefix=local_env.RESOURCE_PREFIX)
        yield LocalResources(
            endpoint_url=endpoint,
            table_name=names.table_name,
            bucket_name=names.bucket_name,
            run_queue_url=names.run_queue_url,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=30)


def api_settings_for(resources: LocalResources, api_key: str) -> ApiSettings:
    values = {
        **_resource_values(resources),
        "api_key_hashes": f"{hash_api_key(api_key)}:{local_env.LOCAL_TENANT}",
        **BENCH_QUOTAS,
    }
    return ApiSettings.model_validate(values)


def worker_settings_for(resources: LocalResources, model_path: str, **overrides: Any) -> WorkerSettings:
    return WorkerSettings.model_validate(
        {**_resource_values(resources), "model_path": model_path, **overrides}
    )


def _resource_values(resources: LocalResources) -> dict[str, Any]:
    return {
        "table_name": resources.table_name,
        "bucket_name": resources.bucket_name,
        "run_queue_url": resources.run_queue_url,
        **local_env.aws_settings_values(resources.endpoint_url),
    }


def api_settings(stack: LocalStack, **overrides: Any) -> ApiSettings:
    """What the stack's API process reads from its environment, for an API composed in this process
    (``overrides``: other ``ApiSettings`` values)."""
    values = {
        **_resource_values(stack.resources),
        "api_key_hashes": f"{hash_api_key(stack.api_key)}:{local_env.LOCAL_TENANT}",
        "allow_weak_api_keys": True,  # the dev key, as the local stack
        **BENCH_QUOTAS,
        **overrides,
    }
    return ApiSettings.model_validate(values)


def worker_settings(stack: LocalStack, model_path: str, **overrides: Any) -> WorkerSettings:
    """A worker for the stack's queue and table."""
    return WorkerSettings.model_validate(
        {**_resource_values(stack.resources), "model_path": model_path, **overrides}
    )


def http_client(stack: LocalStack) -> httpx.AsyncClient:
    """An authenticated client of the stack's API over loopback HTTP."""
    return httpx.AsyncClient(base_url=stack.base_url, headers=_auth(stack), timeout=HTTP_TIMEOUT_SECONDS)


def in_process_client(stack: LocalStack, app: FastAPI) -> httpx.AsyncClient:
    """An authenticated client of ``app`` called in this process (no socket)."""
    return httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL,
        headers=_auth(stack),
        timeout=HTTP_TIMEOUT_SECONDS,
        transport=httpx.ASGITransport(app=app),
    )


def _auth(stack: LocalStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}
