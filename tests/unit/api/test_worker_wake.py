"""A run created while no consumer is live wakes the worker once (debounced); none while one is live."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.deps import build_dependencies, build_worker_spawner
from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.worker_presence import DynamoWorkerPresence
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.worker_spawn import (
    INGESTION_WORKER_CLASS_NAME,
    LocalWorkerSpawner,
    ModalWorkerSpawner,
)
from assistants_core.schemas.vector_stores import CreateVectorStoreRequest
from assistants_core.settings import ApiSettings
from infra.aws_resources import ResourceNames
from tests.unit.api.conftest import ApiHarness, running_api

DEBOUNCE_SECONDS = 30.0


@dataclass
class SteppedClock:
    value: float = 1_800_000_000.0

    def now(self) -> float:
        return self.value


class FailingSpawner:
    def spawn_consumer(self) -> None:
        raise RuntimeError("modal unreachable")


@pytest.fixture
def spawner() -> LocalWorkerSpawner:
    return LocalWorkerSpawner()


@pytest.fixture
def waking_api(monkeypatch: pytest.MonkeyPatch, spawner: LocalWorkerSpawner) -> Iterator[ApiHarness]:
    with running_api(monkeypatch, spawner=spawner, worker_wake_debounce_seconds=DEBOUNCE_SECONDS) as harness:
        yield harness


def _presence(harness: ApiHarness) -> DynamoWorkerPresence:
    bodies = S3BodyStore(harness.clients.s3, harness.resources.bucket_name)
    return DynamoWorkerPresence(DynamoTable(harness.clients.dynamodb, harness.resources.table_name, bodies))


def _create_run(harness: ApiHarness) -> None:
    assistant = harness.post("/assistants", {"model": "m"}).json()
    response = harness.post("/threads/runs", {"assistant_id": assistant["id"]})
    assert response.status_code == 200, response.text


def test_run_create_after_idle_wakes_exactly_once(
    waking_api: ApiHarness, spawner: LocalWorkerSpawner
) -> None:
    _create_run(waking_api)
    _create_run(waking_api)
    _create_run(waking_api)
    assert spawner.spawned == 1  # one conditional write won; the others were inside the debounce window


def test_no_wake_while_a_consumer_is_live(waking_api: ApiHarness, spawner: LocalWorkerSpawner) -> None:
    clock = waking_api.dependencies.runs._clock
    _presence(waking_api).mark_consumer_alive(clock.now() + 600)
    _create_run(waking_api)
    _create_run(waking_api)
    assert spawner.spawned == 0


def test_wake_again_after_the_consumer_went_idle_and_the_window_passed(
    monkeypatch: pytest.MonkeyPatch, spawner: LocalWorkerSpawner
) -> None:
    clock = SteppedClock()
    with running_api(monkeypatch, spawner=spawner, worker_wake_debounce_seconds=DEBOUNCE_SECONDS) as harness:
        harness.dependencies.runs._clock = clock  # the service's clock (build_dependencies' default)
        harness.dependencies.worker_wake._clock = clock  # type: ignore[union-attr]
        _create_run(harness)
        assert spawner.spawned == 1
        _presence(harness).mark_consumer_alive(clock.value + 60)  # the woken consumer checks in
        clock.value += 45
        _create_run(harness)
        assert spawner.spawned == 1  # consumer live
        clock.value += 60  # it exited (idle) and stopped checking in; the debounce window has passed
        _create_run(harness)
        assert spawner.spawned == 2


def test_a_failed_wake_does_not_fail_the_run_create(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(monkeypatch, spawner=FailingSpawner()) as harness:
        _create_run(harness)
        assert harness.queue_depth() == 1


def test_settings_choose_the_spawner() -> None:
    base = {"table_name": "t", "bucket_name": "b", "run_queue_url": "q", "api_key_hashes": "x"}
    assert build_worker_spawner(ApiSettings(**base)) is None  # type: ignore[arg-type]
    assert isinstance(build_worker_spawner(ApiSettings(**base, worker_wake="local")), LocalWorkerSpawner)  # type: ignore[arg-type]
    assert isinstance(build_worker_spawner(ApiSettings(**base, worker_wake="modal")), ModalWorkerSpawner)  # type: ignore[arg-type]


def test_modal_spawner_spawns_one_consume_call_of_the_deployed_worker() -> None:
    calls: list[tuple[str, ...]] = []

    class FakeMethod:
        def spawn(self) -> None:
            calls.append(("spawn",))

    class FakeWorker:
        consume = FakeMethod()

    class FakeCls:
        @staticmethod
        def from_name(app_name: str, class_name: str) -> type[FakeWorker]:
            calls.append(("from_name", app_name, class_name))
            return FakeWorker

    class FakeModal:
        Cls = FakeCls

    ModalWorkerSpawner("serverless-assistants-worker", modal_module=FakeModal()).spawn_consumer()
    assert calls == [("from_name", "serverless-assistants-worker", "GpuWorker"), ("spawn",)]
    calls.clear()
    ModalWorkerSpawner(
        "serverless-assistants-worker", worker_class=INGESTION_WORKER_CLASS_NAME, modal_module=FakeModal()
    ).spawn_consumer()
    assert calls == [("from_name", "serverless-assistants-worker", "IngestionWorker"), ("spawn",)]


def test_a_file_added_to_a_vector_store_wakes_the_ingestion_worker(
    aws_clients: AwsClients, aws_resources: ResourceNames
) -> None:
    """As a run create wakes the run worker: ``IngestionWorker.consume`` on Modal, debounced on its own item
    (a run wake does not hold it back, nor the reverse)."""
    settings = ApiSettings(
        table_name=aws_resources.table_name,
        bucket_name=aws_resources.bucket_name,
        run_queue_url=aws_resources.run_queue_url,
        ingestion_queue_url=aws_resources.ingestion_queue_url,
        api_key_hashes="0" * 64 + ":tenant-a",
        worker_wake="local",
        worker_wake_debounce_seconds=DEBOUNCE_SECONDS,
    )
    run_spawner = LocalWorkerSpawner()
    dependencies = build_dependencies(settings, clients=aws_clients, spawner=run_spawner)
    assert dependencies.worker_wake is not None and dependencies.worker_wake.wake_if_idle()
    services = dependencies.file_services
    ingestion_spawner = services.store_files._queue._wake._spawner  # type: ignore[attr-defined]
    assert isinstance(ingestion_spawner, LocalWorkerSpawner) and ingestion_spawner is not run_spawner

    file_ids = [
        services.files.create(
            "tenant-a", filename=f"{index}.txt", purpose="assistants", data=b"hi", content_type="text/plain"
        ).id
        for index in range(3)
    ]
    services.stores.create("tenant-a", CreateVectorStoreRequest(file_ids=file_ids))
    assert ingestion_spawner.spawned == 1  # three files queued, one wake inside the debounce window
    assert run_spawner.spawned == 1
    depth = aws_clients.sqs.get_queue_attributes(
        QueueUrl=aws_resources.ingestion_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert depth == "3"
