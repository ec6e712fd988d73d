"""The local stack as the benchmarks use it: ``infra.local_stack.start_local_stack`` without the worker
(moto in this process, the API under uvicorn in a child process), plus settings for the same resources so a
benchmark can also compose the API or a worker in-process, on clients whose calls it counts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from api.auth import hash_api_key
from assistants_core.settings import ApiSettings, WorkerSettings
from infra import local_env
from infra.local_env import LocalResources
from infra.local_stack import LocalStack, start_local_stack

NO_SWEEPS_SECONDS = 24 * 3600.0  # the sweeper timer never fires during a benchmark
IN_PROCESS_BASE_URL = "http://in-process/v1"
HTTP_TIMEOUT_SECONDS = 60.0


@contextmanager
def running_api_stack() -> Iterator[LocalStack]:
    """moto + resources + the API on free loopback ports, no worker; stopped when the block ends."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request log
    stack = start_local_stack(api_port=0, moto_port=0, worker=False, sweep_interval_seconds=NO_SWEEPS_SECONDS)
    try:
        yield stack
    finally:
        stack.stop()


def _resource_values(resources: LocalResources) -> dict[str, Any]:
    return {
        "table_name": resources.table_name,
        "bucket_name": resources.bucket_name,
        "run_queue_url": resources.run_queue_url,
        **local_env.aws_settings_values(resources.endpoint_url),
    }


def api_settings(stack: LocalStack) -> ApiSettings:
    """What the stack's API process reads from its environment, for an API composed in this process."""
    values = {
        **_resource_values(stack.resources),
        "api_key_hashes": f"{hash_api_key(stack.api_key)}:{local_env.LOCAL_TENANT}",
        "allow_weak_api_keys": True,  # the dev key, as the local stack
        # Counted (the write is part of each request's cost) but never refused at benchmark rates.
        "tenant_requests_per_minute": 10**9,
        "tenant_max_active_runs": 10**6,
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
