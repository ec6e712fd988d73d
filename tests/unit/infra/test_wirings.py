"""The composition roots (API, worker, maintenance) hand every relevant setting to what they build."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import api.deps
import gpu_worker.wiring
import maintenance.wiring
from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.services.run_stream import RunStreamService
from assistants_core.settings import ApiSettings, SweeperSettings, WorkerSettings
from gpu_worker.engines.scripted import ScriptedEngine

RESOURCES = {"table_name": "table", "bucket_name": "bucket", "run_queue_url": "https://sqs.example/q"}
CLIENTS = AwsClients(dynamodb=object(), s3=object(), sqs=object())
INLINE_LIMIT = 1_234


def _record_tables(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[DynamoTable]:
    built: list[DynamoTable] = []

    class RecordingTable(DynamoTable):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(module, "DynamoTable", RecordingTable)
    return built


def _build_api() -> None:
    settings = ApiSettings(**RESOURCES, api_key_hashes="0" * 64 + ":t", inline_body_limit_bytes=INLINE_LIMIT)
    api.deps.build_dependencies(settings, clients=CLIENTS)


def _build_worker() -> None:
    settings = WorkerSettings(**RESOURCES, model_path="unused", inline_body_limit_bytes=INLINE_LIMIT)
    gpu_worker.wiring.build_consumer(settings, ScriptedEngine(), worker_id="w", clients=CLIENTS)


def _build_maintenance() -> None:
    settings = SweeperSettings(**RESOURCES, inline_body_limit_bytes=INLINE_LIMIT)
    maintenance.wiring.build_run_maintenance(settings, CLIENTS)


@pytest.mark.parametrize(
    ("module", "build"),
    [(api.deps, _build_api), (gpu_worker.wiring, _build_worker), (maintenance.wiring, _build_maintenance)],
    ids=["api", "worker", "maintenance"],
)
def test_every_wiring_uses_the_configured_inline_body_limit(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, build: Any
) -> None:
    """A worker storing a long reply must move it to S3 at the same size the API does."""
    tables = _record_tables(monkeypatch, module)
    build()
    assert [table.inline_body_limit_bytes for table in tables] == [INLINE_LIMIT]


def test_inline_body_limit_is_read_from_the_environment_by_every_settings_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASSISTANTS_INLINE_BODY_LIMIT_BYTES", "4096")
    assert WorkerSettings(**RESOURCES, model_path="unused").inline_body_limit_bytes == 4096
    assert SweeperSettings(**RESOURCES).inline_body_limit_bytes == 4096


def test_api_streams_end_after_the_configured_stream_max_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    limits: list[float] = []

    class RecordingStreamService(RunStreamService):
        def __init__(self, *args: Any, max_stream_seconds: float, **kwargs: Any) -> None:
            super().__init__(*args, max_stream_seconds=max_stream_seconds, **kwargs)
            limits.append(max_stream_seconds)

    monkeypatch.setattr(api.deps, "RunStreamService", RecordingStreamService)
    monkeypatch.setenv("ASSISTANTS_STREAM_MAX_SECONDS", "25")
    settings = ApiSettings(**RESOURCES, api_key_hashes="0" * 64 + ":t")
    api.deps.build_dependencies(settings, clients=CLIENTS)
    assert limits == [25.0]
