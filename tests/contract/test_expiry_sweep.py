"""Expired vector stores and files are deleted by the sweep (against moto): every item, link and S3 object,
per tenant, idempotently, crash-safe (a sweep that dies half-way is finished by the next), never scanning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.expiring import DynamoExpiredObjects
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_chunks import S3ChunkIndex, chunks_key
from assistants_core.adapters.s3_objects import S3ObjectStore
from assistants_core.domain.chunks import IndexedFile
from assistants_core.domain.errors import NotFoundError, StorageError
from assistants_core.domain.models import PageRequest
from assistants_core.domain.vector_stores import SECONDS_PER_DAY
from assistants_core.file_ports import ChunkIndex, IngestionRef
from assistants_core.schemas.files import FileExpiresAfter
from assistants_core.schemas.vector_stores import (
    CreateFileBatchRequest,
    CreateVectorStoreRequest,
    UpdateVectorStoreRequest,
    VectorStoreObject,
)
from assistants_core.services.expiry_sweep import ExpirySweep
from assistants_core.services.files import FileService
from assistants_core.services.vector_store_files import VectorStoreFileService
from assistants_core.services.vector_stores import VectorStoreService
from infra.aws_resources import ResourceNames
from tests.contract.factories import OTHER_OWNER, OWNER

START = 1_800_000_000.0


class SteppingClock:
    def __init__(self) -> None:
        self.value = START

    def now(self) -> float:
        return self.value


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[IngestionRef] = []

    def enqueue_ingestion(self, ref: IngestionRef) -> None:
        self.sent.append(ref)


@dataclass
class World:
    clock: SteppingClock
    table: DynamoTable
    s3: Any
    bucket: str
    files: FileService
    stores: VectorStoreService
    store_repo: DynamoVectorStoreRepository
    store_files: VectorStoreFileService
    index: S3ChunkIndex
    sweep: ExpirySweep

    def sweep_with(self, index: ChunkIndex) -> ExpirySweep:
        return ExpirySweep(
            DynamoExpiredObjects(self.table),
            self.store_repo,
            index,
            S3ObjectStore(self.s3, self.bucket),
            self.clock,
            detach=self.store_files.detach_everywhere,
        )

    def keys_in_bucket(self) -> set[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket)
        return {item["Key"] for item in listed.get("Contents", [])}

    def items_of(self, pk: str) -> list[dict[str, Any]]:
        return self.table.query(partition=("PK", pk), sort_attribute="SK", prefix="")

    def new_file(self, owner: str = OWNER, *, expires_after_seconds: int | None = None) -> str:
        expiry = None
        if expires_after_seconds is not None:
            expiry = FileExpiresAfter(anchor="created_at", seconds=expires_after_seconds)
        return self.files.create(
            owner,
            filename="notes.txt",
            purpose="assistants",
            data=b"some notes",
            content_type="text/plain",
            expires_after=expiry,
        ).id

    def indexed(self, vector_store_id: str, file_id: str) -> None:
        indexed = IndexedFile(model="m", dimensions=1, text="t", chunks=["t"], vectors=b"\0" * 4)
        self.index.write_file_chunks(vector_store_id, file_id, indexed)


@pytest.fixture
def world(aws_clients: AwsClients, aws_resources: ResourceNames, dynamo_table: DynamoTable) -> World:
    clock = SteppingClock()
    bucket = aws_resources.bucket_name
    objects = S3ObjectStore(aws_clients.s3, bucket)
    file_repo = DynamoFileRepository(dynamo_table)
    store_repo = DynamoVectorStoreRepository(dynamo_table)
    index = S3ChunkIndex(aws_clients.s3, bucket)
    store_files = VectorStoreFileService(store_repo, file_repo, RecordingQueue(), index, clock)
    files = FileService(file_repo, objects, clock, detach=store_files.detach_everywhere)
    stores = VectorStoreService(store_repo, file_repo, store_files, index, clock)
    parts = (clock, dynamo_table, aws_clients.s3, bucket, files, stores, store_repo, store_files, index)
    world = World(*parts, sweep=None)  # type: ignore[arg-type]  # set below: it needs the world
    world.sweep = world.sweep_with(index)
    return world


def expiring_store(world: World, owner: str, file_ids: list[str], days: int = 1) -> str:
    request = CreateVectorStoreRequest.model_validate(
        {"file_ids": file_ids, "expires_after": {"anchor": "last_active_at", "days": days}}
    )
    store = world.stores.create(owner, request)
    for file_id in file_ids:
        world.indexed(store.id, file_id)
    return store.id


def test_an_expired_store_reads_expired_and_the_sweep_deletes_everything_it_holds(world: World) -> None:
    file_ids = [world.new_file(), world.new_file()]
    doomed = expiring_store(world, OWNER, file_ids)
    kept = expiring_store(world, OTHER_OWNER, [world.new_file(OTHER_OWNER)], days=2)
    batch_request = CreateFileBatchRequest.model_validate({"file_ids": [world.new_file()]})
    batch = world.store_files.create_batch(OWNER, doomed, batch_request)
    world.indexed(doomed, batch.id)  # any object under the store's prefix goes with it

    world.clock.value = START + SECONDS_PER_DAY - 1
    assert world.sweep.sweep().vector_stores == []
    fresh = world.stores.retrieve(OWNER, doomed)
    assert VectorStoreObject.from_domain(fresh, now=world.clock.now()).status != "expired"

    world.clock.value = START + SECONDS_PER_DAY
    stored = world.stores.retrieve(OWNER, doomed)
    assert VectorStoreObject.from_domain(stored, now=world.clock.now()).status == "expired"

    report = world.sweep.sweep()
    assert report.vector_stores == [doomed]
    with pytest.raises(NotFoundError):
        world.stores.retrieve(OWNER, doomed)
    assert world.items_of(f"VS#{doomed}") == []
    for file_id in file_ids:
        assert world.store_repo.stores_of_file(file_id) == []
        assert world.files.retrieve(OWNER, file_id).id == file_id  # the files themselves stay
    assert not {key for key in world.keys_in_bucket() if key.startswith(f"vectors/{doomed}/")}
    # The other tenant's store, not yet expired, is untouched; a second sweep changes nothing.
    assert world.stores.retrieve(OTHER_OWNER, kept).counts.total == 1
    (kept_file,) = world.store_repo.list_files(kept, PageRequest(limit=10)).data
    assert chunks_key(kept, kept_file.id) in world.keys_in_bucket()
    assert world.sweep.sweep().vector_stores == []


def test_a_store_used_again_or_no_longer_expiring_is_kept(world: World) -> None:
    renewed = expiring_store(world, OWNER, [])
    unexpiring = expiring_store(world, OWNER, [])
    world.clock.value = START + SECONDS_PER_DAY / 2
    store = world.store_repo.get_store(OWNER, renewed)
    store.last_active_at = int(world.clock.now())  # what a search does
    world.store_repo.update_store_fields(store, ["last_active_at"])
    world.stores.modify(OWNER, unexpiring, UpdateVectorStoreRequest.model_validate({"expires_after": None}))

    world.clock.value = START + SECONDS_PER_DAY
    assert world.sweep.sweep().vector_stores == []
    assert DynamoExpiredObjects(world.table).list_expired(now=world.clock.now(), limit=10) == []
    world.clock.value = START + SECONDS_PER_DAY * 1.5
    assert world.sweep.sweep().vector_stores == [renewed]
    assert world.stores.retrieve(OWNER, unexpiring).expires_at is None


def test_an_expired_file_is_taken_out_of_its_stores_and_deleted_with_its_body(world: World) -> None:
    doomed = world.new_file(expires_after_seconds=3600)
    kept = world.new_file(OTHER_OWNER, expires_after_seconds=7200)
    store = world.stores.create(OWNER, CreateVectorStoreRequest.model_validate({"file_ids": [doomed]}))
    world.indexed(store.id, doomed)
    body_key = f"files/{doomed}"
    assert any(key.startswith(body_key) for key in world.keys_in_bucket())

    world.clock.value = START + 3600
    with pytest.raises(NotFoundError):  # reads as gone at once
        world.files.retrieve(OWNER, doomed)
    report = world.sweep.sweep()
    assert report.files == [doomed]
    assert world.items_of(f"FILE#{doomed}") == []
    assert not any(key.startswith(body_key) for key in world.keys_in_bucket())
    assert chunks_key(store.id, doomed) not in world.keys_in_bucket()
    counted = world.stores.retrieve(OWNER, store.id)
    assert counted.counts.total == 0 and counted.usage_bytes == 0
    assert world.files.retrieve(OTHER_OWNER, kept).id == kept
    assert world.sweep.sweep().files == []


class FailingOnce:
    """A chunk index whose first store delete fails (the sweeper died there)."""

    def __init__(self, inner: S3ChunkIndex) -> None:
        self.inner = inner
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def delete_store_chunks(self, vector_store_id: str) -> None:
        if not self.failed:
            self.failed = True
            raise StorageError("S3 is unavailable")
        self.inner.delete_store_chunks(vector_store_id)


def test_a_sweep_that_dies_half_way_is_finished_by_the_next(world: World) -> None:
    file_id = world.new_file()
    doomed = expiring_store(world, OWNER, [file_id])
    other = expiring_store(world, OTHER_OWNER, [])
    world.clock.value = START + SECONDS_PER_DAY
    flaky = world.sweep_with(FailingOnce(world.index))
    assert flaky.sweep().vector_stores == [other]  # the failure is logged; the other store still goes
    assert world.store_repo.find_store(doomed) is not None  # the store item (and its index entry) stays
    assert flaky.sweep().vector_stores == [doomed]
    assert world.store_repo.find_store(doomed) is None
    assert not {key for key in world.keys_in_bucket() if key.startswith(f"vectors/{doomed}/")}


def test_the_sweep_reads_expired_objects_from_the_index_never_scanning(world: World) -> None:
    expiring_store(world, OWNER, [world.new_file(expires_after_seconds=3600)])
    calls: list[str] = []
    world.table.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    world.clock.value = START + SECONDS_PER_DAY
    report = world.sweep.sweep()
    assert len(report.vector_stores) == 1 and len(report.files) == 1
    assert "Scan" not in calls and "Query" in calls
