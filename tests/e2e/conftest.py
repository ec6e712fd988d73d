"""The local stack for end-to-end tests: a moto server and the real API app under uvicorn, both on free
loopback ports, resources created from template.yaml, configured only through ``ASSISTANTS_*`` variables.

``local_stack`` (session scope) yields a ``LocalStackHandle``; other e2e tests (e.g. the worker's) reuse it
and start their consumer with ``handle.environment``.

Every response and SSE event the API sends here is recorded and, at the end of the session, checked against
OpenAI's published OpenAPI schemas and stream invariants (``conformance.py``): the coverage table is printed
and any violation not listed in ``conformance.DEVIATIONS`` fails the session."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from moto.server import ThreadedMotoServer

from api.app import create_app
from api.auth import hash_api_key
from api.deps import ApiDependencies, build_dependencies
from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.settings import ApiSettings, AwsSettings, get_api_settings
from gpu_worker.ingestion.embedders import bundled_minilm_path
from infra import moto_dynamodb
from infra.aws_resources import ResourceNames, create_resources
from tests.e2e.conformance import RECORDER, Report, build_report, summary_lines

HOST = "127.0.0.1"
API_KEY = "sk-e2e-tenant-one-0123456789abcdefghijklmnopqrstuvwxyz"  # generated shape (api/auth.py)
OTHER_API_KEY = "sk-e2e-tenant-two-0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class LocalStackHandle:
    base_url: str
    api_key: str
    other_api_key: str
    environment: dict[str, str]
    resources: ResourceNames
    dependencies: ApiDependencies

    @property
    def clients(self) -> AwsClients:
        """The boto3 clients the running API's adapters use."""
        return self.dependencies.clients


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(url: str, timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def running_local_stack() -> Iterator[LocalStackHandle]:
    """The stack, its ``ASSISTANTS_*`` variables set in this process while it runs (other suites, e.g.
    tests/browser, start their own with a narrower scope)."""
    moto_port = free_port(HOST)
    moto_dynamodb.install()  # as the local stack: atomic DynamoDB requests, cheap transaction rollback
    moto = ThreadedMotoServer(ip_address=HOST, port=moto_port, verbose=False)
    moto.start()
    endpoint = f"http://{HOST}:{moto_port}"
    environment = {
        "AWS_ACCESS_KEY_ID": "e2e",
        "AWS_SECRET_ACCESS_KEY": "e2e",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ASSISTANTS_AWS_ENDPOINT_URL": endpoint,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        bootstrap = make_aws_clients(
            AwsSettings(table_name="-", bucket_name="-", run_queue_url="-", aws_endpoint_url=endpoint)
        )
        resources = create_resources(bootstrap, prefix="e2e")
        environment |= {
            "ASSISTANTS_TABLE_NAME": resources.table_name,
            "ASSISTANTS_BUCKET_NAME": resources.bucket_name,
            "ASSISTANTS_RUN_QUEUE_URL": resources.run_queue_url,
            "ASSISTANTS_INGESTION_QUEUE_URL": resources.ingestion_queue_url,
            "ASSISTANTS_EMBEDDING_MODEL_PATH": str(bundled_minilm_path()),
            "ASSISTANTS_API_KEY_HASHES": (
                f"{hash_api_key(API_KEY)}:tenant-one,{hash_api_key(OTHER_API_KEY)}:tenant-two"
            ),
            "ASSISTANTS_CORS_ALLOW_ORIGINS": "*",
        }
        for name, value in environment.items():
            patch.setenv(name, value)
        get_api_settings.cache_clear()
        settings: ApiSettings = get_api_settings()
        dependencies = build_dependencies(settings)
        api_port = free_port(HOST)
        server = uvicorn.Server(
            uvicorn.Config(
                RECORDER.wrap(create_app(dependencies)), host=HOST, port=api_port, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
        thread.start()
        base_url = f"http://{HOST}:{api_port}/v1"
        _wait_until_ready(f"{base_url}/openapi.json")
        try:
            yield LocalStackHandle(
                base_url=base_url,
                api_key=API_KEY,
                other_api_key=OTHER_API_KEY,
                environment=dict(environment),
                resources=resources,
                dependencies=dependencies,
            )
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            get_api_settings.cache_clear()
            moto.stop()


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStackHandle]:
    with running_local_stack() as handle:
        yield handle


# -- the OpenAI conformance check over everything the e2e tests saw ----------------------------------------
_REPORT: list[Report] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not RECORDER.exchanges:
        return
    report = build_report(RECORDER.exchanges)
    _REPORT.append(report)
    if report.violations and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for report in _REPORT:
        terminalreporter.section("OpenAI conformance (tests/e2e/conformance.py)")
        for line in summary_lines(report):
            terminalreporter.write_line(line)
        if report.violations:
            terminalreporter.write_line(
                f"FAILED: {len(report.violations)} violations of OpenAI's spec not listed in "
                "tests/e2e/conformance.py DEVIATIONS (the session fails)",
                red=True,
            )
