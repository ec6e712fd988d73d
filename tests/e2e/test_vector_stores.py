"""``/v1/vector_stores`` CRUD, files and file batches through the official openai SDK (no ingestion worker
here: files stay ``in_progress`` unless a test finishes them through the repository as a worker would)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import OpenAI

from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.domain.vector_stores import FileStatus
from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(local_stack: LocalStackHandle) -> OpenAI:
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


@pytest.fixture
def repository(local_stack: LocalStackHandle) -> DynamoVectorStoreRepository:
    clients = local_stack.clients
    bucket = local_stack.resources.bucket_name
    table = DynamoTable(clients.dynamodb, local_stack.resources.table_name, S3BodyStore(clients.s3, bucket))
    return DynamoVectorStoreRepository(table)


def drain_ingestion_queue(local_stack: LocalStackHandle) -> list[dict[str, Any]]:
    sqs = local_stack.clients.sqs
    url = local_stack.resources.ingestion_queue_url
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def text_file(client: OpenAI, name: str = "doc.txt", body: bytes = b"hello world") -> str:
    return client.files.create(file=(name, body), purpose="assistants").id


def counts(store: Any) -> tuple[int, int, int, int, int]:
    c = store.file_counts
    return (c.in_progress, c.completed, c.failed, c.cancelled, c.total)


def test_vector_store_crud(client: OpenAI) -> None:
    store = client.vector_stores.create(
        name="Docs",
        metadata={"team": "search"},
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 100},
        },
    )
    assert store.id.startswith("vs_")
    assert (store.object, store.name, store.status, store.usage_bytes) == (
        "vector_store",
        "Docs",
        "completed",
        0,
    )
    assert counts(store) == (0, 0, 0, 0, 0)
    assert store.expires_after is not None and store.expires_after.days == 7
    assert store.expires_at == store.last_active_at + 7 * 86400  # type: ignore[operator]
    assert client.vector_stores.retrieve(store.id).name == "Docs"
    updated = client.vector_stores.update(
        store.id, name="Renamed", metadata={"team": "core"}, expires_after=None
    )
    assert (updated.name, updated.metadata, updated.expires_after, updated.expires_at) == (
        "Renamed",
        {"team": "core"},
        None,
        None,
    )
    assert store.id in [item.id for item in client.vector_stores.list(limit=100)]
    deleted = client.vector_stores.delete(store.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (store.id, True, "vector_store.deleted")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


def test_create_with_files_enqueues_ingestion_and_counts_them(
    client: OpenAI, local_stack: LocalStackHandle, repository: DynamoVectorStoreRepository
) -> None:
    drain_ingestion_queue(local_stack)
    first, second = text_file(client, "a.txt"), text_file(client, "b.md", b"# title")
    image = client.files.create(file=("pic.png", b"\x89PNG...."), purpose="assistants").id
    store = client.vector_stores.create(name="with files", file_ids=[first, second, image])
    assert store.status == "in_progress"
    assert counts(store) == (2, 0, 1, 0, 3)
    queued = drain_ingestion_queue(local_stack)
    assert sorted(message["file_id"] for message in queued) == sorted([first, second])
    assert {message["vector_store_id"] for message in queued} == {store.id}
    failed = client.vector_stores.files.retrieve(image, vector_store_id=store.id)
    assert failed.status == "failed"
    assert failed.last_error is not None and failed.last_error.code == "unsupported_file"
    in_progress = client.vector_stores.files.list(store.id, filter="in_progress")
    assert sorted(file.id for file in in_progress) == sorted([first, second])
    assert client.vector_stores.files.list(store.id, filter="completed").data == []
    # A worker finishes one file: its status, the store's counts and usage move together.
    file = repository.find_file(store.id, first)
    assert file is not None
    assert repository.finish_file(file, FileStatus.COMPLETED, usage_bytes=123)
    assert not repository.finish_file(file, FileStatus.COMPLETED, usage_bytes=123)  # a second finish loses
    done = client.vector_stores.files.retrieve(first, vector_store_id=store.id)
    assert (done.status, done.usage_bytes, done.last_error) == ("completed", 123, None)
    store = client.vector_stores.retrieve(store.id)
    assert (counts(store), store.usage_bytes, store.status) == ((1, 1, 1, 0, 3), 123, "in_progress")
    # Adding a file the store already has changes nothing.
    again = client.vector_stores.files.create(store.id, file_id=first)
    assert again.status == "completed"
    assert counts(client.vector_stores.retrieve(store.id)) == (1, 1, 1, 0, 3)
    assert drain_ingestion_queue(local_stack) == []
    client.vector_stores.delete(store.id)


def test_store_files_attributes_detach_and_deleted_files(
    client: OpenAI, local_stack: LocalStackHandle
) -> None:
    store = client.vector_stores.create(name="files")
    file_id = text_file(client)
    other_id = text_file(client, "c.txt")
    added = client.vector_stores.files.create(
        store.id,
        file_id=file_id,
        attributes={"author": "ann", "year": 2024, "draft": False},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
        },
    )
    assert (added.object, added.vector_store_id, added.status) == (
        "vector_store.file",
        store.id,
        "in_progress",
    )
    assert added.attributes == {"author": "ann", "year": 2024, "draft": False}
    assert added.chunking_strategy is not None
    assert added.chunking_strategy.static.max_chunk_size_tokens == 200  # type: ignore[union-attr]
    updated = client.vector_stores.files.update(
        file_id, vector_store_id=store.id, attributes={"author": "bob"}
    )
    assert updated.attributes == {"author": "bob"}
    client.vector_stores.files.create(store.id, file_id=other_id)
    assert counts(client.vector_stores.retrieve(store.id)) == (2, 0, 0, 0, 2)
    removed = client.vector_stores.files.delete(file_id, vector_store_id=store.id)
    assert (removed.id, removed.deleted, removed.object) == (file_id, True, "vector_store.file.deleted")
    assert client.files.retrieve(file_id).id == file_id  # the file itself stays
    assert counts(client.vector_stores.retrieve(store.id)) == (1, 0, 0, 0, 1)
    # Deleting a file takes it out of every store that has it.
    client.files.delete(other_id)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(other_id, vector_store_id=store.id)
    assert counts(client.vector_stores.retrieve(store.id)) == (0, 0, 0, 0, 0)
    assert client.vector_stores.retrieve(store.id).status == "completed"
    drain_ingestion_queue(local_stack)
    client.vector_stores.delete(store.id)


def test_file_batches(
    client: OpenAI, local_stack: LocalStackHandle, repository: DynamoVectorStoreRepository
) -> None:
    store = client.vector_stores.create(name="batches")
    file_ids = [text_file(client, f"f{index}.txt") for index in range(3)]
    batch = client.vector_stores.file_batches.create(store.id, file_ids=file_ids, attributes={"set": "one"})
    assert batch.id.startswith("vsfb_")
    assert (batch.object, batch.status, batch.vector_store_id) == (
        "vector_store.files_batch",
        "in_progress",
        store.id,
    )
    assert counts(batch) == (3, 0, 0, 0, 3)
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert sorted(file.id for file in listed) == sorted(file_ids)
    assert all(file.attributes == {"set": "one"} for file in listed)
    first = repository.find_file(store.id, file_ids[0])
    assert first is not None and repository.finish_file(first, FileStatus.COMPLETED, usage_bytes=10)
    assert counts(client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)) == (
        2,
        1,
        0,
        0,
        3,
    )
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    assert counts(cancelled) == (0, 1, 0, 2, 3)
    assert counts(client.vector_stores.retrieve(store.id)) == (0, 1, 0, 2, 3)
    assert (
        len(
            client.vector_stores.file_batches.list_files(
                batch.id, vector_store_id=store.id, filter="cancelled"
            ).data
        )
        == 2
    )
    with pytest.raises(openai.BadRequestError, match="status 'cancelled'"):
        client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    # A late worker finish of a cancelled file loses.
    second = repository.find_file(store.id, file_ids[1])
    assert second is not None and second.status is FileStatus.CANCELLED
    second.status = FileStatus.IN_PROGRESS
    assert not repository.finish_file(second, FileStatus.COMPLETED, usage_bytes=5)
    drain_ingestion_queue(local_stack)
    client.vector_stores.delete(store.id)


def test_other_tenant_gets_404(client: OpenAI, local_stack: LocalStackHandle) -> None:
    other = OpenAI(base_url=local_stack.base_url, api_key=local_stack.other_api_key, max_retries=0)
    store = client.vector_stores.create(name="mine")
    mine = text_file(client)
    client.vector_stores.files.create(store.id, file_id=mine)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.retrieve(store.id)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.delete(store.id)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.files.list(store.id)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.files.retrieve(mine, vector_store_id=store.id)
    theirs = other.vector_stores.create(name="theirs")
    with pytest.raises(openai.NotFoundError):  # another tenant's file cannot be added
        other.vector_stores.files.create(theirs.id, file_id=mine)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.create(name="x", file_ids=[mine])
    assert store.id not in [item.id for item in other.vector_stores.list()]
    drain_ingestion_queue(local_stack)
    other.vector_stores.delete(theirs.id)
    client.vector_stores.delete(store.id)


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
                }
            },
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 500},
                }
            },
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        ({"expires_after": {"anchor": "last_active_at", "days": 0}}, "expires_after.days"),
        ({"file_ids": ["file-doesnotexist"]}, None),
        ({"metadata": {f"k{index}": "v" for index in range(17)}}, "metadata"),
    ],
)
def test_bad_creates_write_nothing(client: OpenAI, arguments: dict[str, Any], param: str | None) -> None:
    before = [store.id for store in client.vector_stores.list(limit=100)]
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as raised:
        client.vector_stores.create(name="bad", **arguments)
    body: Any = raised.value.body
    if param is not None:
        assert body["param"] == param
    assert [store.id for store in client.vector_stores.list(limit=100)] == before


def test_bad_store_file_requests(client: OpenAI) -> None:
    store = client.vector_stores.create(name="bad files")
    file_id = text_file(client)
    with pytest.raises(openai.BadRequestError, match="filter"):
        client.vector_stores.files.list(store.id, filter="done")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.files.create(
            store.id, file_id=file_id, attributes={f"k{index}": 1 for index in range(17)}
        )
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.file_batches.create(store.id, file_ids=[file_id, file_id])
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.file_batches.create(store.id, file_ids=[file_id, "file-missing"])
    assert counts(client.vector_stores.retrieve(store.id)) == (0, 0, 0, 0, 0)
    client.vector_stores.delete(store.id)
