"""A run created while no consumer is live wakes the worker once (debounced); none while one is live."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.deps import build_worker_spawner
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.worker_presence import DynamoWorkerPresence
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.worker_spawn import LocalWorkerSpawner, ModalWorkerSpawner
from assistants_core.settings import ApiSettings
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
