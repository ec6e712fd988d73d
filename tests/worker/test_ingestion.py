"""The ingestion consumer against moto (in-process): parse -> chunk -> embed -> index for text, HTML, a PDF
and a DOCX made here; a duplicate delivery and a killed worker never index twice nor leave a file or batch
in progress; a cancel during ingestion wins; unreadable files fail with ``invalid_file``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_chunks import S3ChunkIndex, chunks_key
from assistants_core.adapters.s3_objects import S3ObjectStore
from assistants_core.adapters.sqs_ingestion import SqsIngestionQueue
from assistants_core.domain.errors import StorageError
from assistants_core.domain.vector_stores import FileStatus, VectorStoreFile
from assistants_core.file_ports import IngestionRef, ReceivedIngestion
from assistants_core.schemas.vector_stores import CreateFileBatchRequest, CreateVectorStoreRequest
from assistants_core.services.files import FileService
from assistants_core.services.vector_store_files import VectorStoreFileService
from assistants_core.services.vector_stores import VectorStoreService
from gpu_worker.ingestion.chunking import TokenCounter
from gpu_worker.ingestion.consumer import IngestionConfig, IngestionConsumer
from gpu_worker.ingestion.embedders import HashingEmbedder, bundled_minilm_path
from infra.aws_resources import ResourceNames
from tests.documents import make_docx, make_pdf
from tests.worker.world import FakeClock

OWNER = "tenant-ingest"
LEASE = 60


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter(bundled_minilm_path() / "tokenizer.json")


class RecordingEmbedder(HashingEmbedder):
    """Hashing embedder that counts its calls and can run a hook mid-ingestion (a cancel, a crash)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.hook: Callable[[], None] | None = None

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        return super().embed(texts)


class RecordingQueue(SqsIngestionQueue):
    """Remembers the receipt handles of messages received and not deleted (to deliver them again)."""

    def __init__(self, client: Any, url: str) -> None:
        super().__init__(client, url)
        self.in_flight: set[str] = set()

    def receive_ingestions(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedIngestion]:
        received = super().receive_ingestions(max_messages=max_messages, wait_seconds=wait_seconds)
        self.in_flight |= {message.receipt_handle for message in received}
        return received

    def delete_ingestion_message(self, receipt_handle: str) -> None:
        super().delete_ingestion_message(receipt_handle)
        self.in_flight.discard(receipt_handle)


@dataclass
class World:
    clock: FakeClock
    clients: AwsClients
    resources: ResourceNames
    files: FileService
    stores: VectorStoreService
    store_files: VectorStoreFileService
    repository: DynamoVectorStoreRepository
    file_repository: DynamoFileRepository
    objects: S3ObjectStore
    index: S3ChunkIndex
    queue: RecordingQueue
    counter: TokenCounter

    def consumer(self, embedder: HashingEmbedder | None = None, **config: Any) -> IngestionConsumer:
        return IngestionConsumer(
            self.queue,
            self.repository,
            files=self.file_repository,
            objects=self.objects,
            index=self.index,
            embedder=embedder or HashingEmbedder(),
            counter=self.counter,
            clock=self.clock,
            config=IngestionConfig(lease_seconds=LEASE, receive_wait_seconds=0, **config),
        )

    def upload(self, filename: str, data: bytes) -> str:
        return self.files.create(
            OWNER, filename=filename, purpose="assistants", data=data, content_type="x"
        ).id

    def store_with(self, *file_ids: str) -> str:
        return self.stores.create(OWNER, CreateVectorStoreRequest(name="s", file_ids=list(file_ids))).id

    def status(self, vector_store_id: str, file_id: str) -> FileStatus:
        file = self.repository.find_file(vector_store_id, file_id)
        assert file is not None
        return file.status

    def counts(self, vector_store_id: str) -> tuple[int, int, int, int]:
        counts = self.stores.retrieve(OWNER, vector_store_id).counts
        return (counts.in_progress, counts.completed, counts.failed, counts.cancelled)

    def queue_depth(self) -> tuple[int, int]:
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=self.resources.ingestion_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def redeliver_all(self) -> None:
        """Make every in-flight message visible again (as its visibility timeout running out would)."""
        for handle in self.queue.in_flight:
            self.queue.extend_visibility(handle, 0)
        self.queue.in_flight.clear()
        time.sleep(0.01)  # moto makes a message visible only once its visible_at lies in the past

    def index_objects(self, vector_store_id: str) -> list[str]:
        response = self.clients.s3.list_objects_v2(
            Bucket=self.resources.bucket_name, Prefix=f"vectors/{vector_store_id}/"
        )
        return [item["Key"] for item in response.get("Contents", [])]


@pytest.fixture
def world(
    aws_clients: AwsClients, aws_resources: ResourceNames, dynamo_table: DynamoTable, counter: TokenCounter
) -> World:
    clock = FakeClock()
    bucket = aws_resources.bucket_name
    objects = S3ObjectStore(aws_clients.s3, bucket)
    index = S3ChunkIndex(aws_clients.s3, bucket)
    file_repository = DynamoFileRepository(dynamo_table)
    repository = DynamoVectorStoreRepository(dynamo_table)
    queue = RecordingQueue(aws_clients.sqs, aws_resources.ingestion_queue_url)
    store_files = VectorStoreFileService(repository, file_repository, queue, index, clock)
    return World(
        clock=clock,
        clients=aws_clients,
        resources=aws_resources,
        files=FileService(file_repository, objects, clock, detach=store_files.detach_everywhere),
        stores=VectorStoreService(repository, file_repository, store_files, index, clock),
        store_files=store_files,
        repository=repository,
        file_repository=file_repository,
        objects=objects,
        index=index,
        queue=queue,
        counter=counter,
    )


def test_text_html_pdf_and_docx_are_indexed(world: World) -> None:
    long_text = " ".join(f"Sentence {index} talks about the harbour lighthouse." for index in range(400))
    documents = {
        "notes.txt": long_text.encode(),
        "page.html": b"<html><body><h1>Volcano report</h1><script>x()</script><p>Magma &amp; ash</p></body>",
        "paper.pdf": make_pdf(["Quantum gardening handbook", "Chapter one: tomatoes"]),
        "memo.docx": make_docx(["Quarterly memo about zebras"], [["region", "count"], ["north", "12"]]),
    }
    file_ids = {name: world.upload(name, data) for name, data in documents.items()}
    store = world.store_with(*file_ids.values())
    outcomes = world.consumer().run_once()
    assert sorted(outcome.status for outcome in outcomes) == ["completed"] * 4
    assert world.counts(store) == (0, 4, 0, 0)
    assert world.queue_depth() == (0, 0)
    texts = {name: world.index.read_file_chunks(store, file_id) for name, file_id in file_ids.items()}
    assert "Quantum gardening handbook" in texts["paper.pdf"].text  # type: ignore[union-attr]
    assert "north | 12" in texts["memo.docx"].text  # type: ignore[union-attr]
    assert "x()" not in texts["page.html"].text and "Magma & ash" in texts["page.html"].text  # type: ignore[union-attr]
    notes = texts["notes.txt"]
    assert notes is not None
    # Static chunking, 800 tokens with 400 overlap: every chunk but the last holds 800 tokens.
    sizes = [len(world.counter.offsets(chunk)) for chunk in notes.chunks]
    assert len(sizes) > 3 and all(size <= 800 for size in sizes) and sizes[0] >= 795
    assert notes.chunks[1] in long_text and notes.chunks[0][-100:] in notes.chunks[1]  # overlapping windows
    assert len(notes.vectors) == len(notes.chunks) * 384 * 4
    stored = world.stores.retrieve(OWNER, store)
    object_sizes = sum(
        world.clients.s3.head_object(Bucket=world.resources.bucket_name, Key=chunks_key(store, file_id))[
            "ContentLength"
        ]
        for file_id in file_ids.values()
    )
    assert stored.usage_bytes == object_sizes


def test_unreadable_files_fail_with_invalid_file(world: World) -> None:
    broken_pdf = world.upload("broken.pdf", b"%PDF-1.4 this is not really a pdf")
    binary_txt = world.upload("binary.txt", b"\x00\x01\x02")
    store = world.store_with(broken_pdf, binary_txt)
    assert sorted(outcome.status for outcome in world.consumer().run_once()) == ["failed", "failed"]
    for file_id in (broken_pdf, binary_txt):
        file = world.repository.find_file(store, file_id)
        assert file is not None and file.status is FileStatus.FAILED
        assert file.last_error is not None and file.last_error["code"] == "invalid_file"
    assert world.counts(store) == (0, 0, 2, 0)
    assert world.index_objects(store) == []


def test_duplicate_delivery_indexes_once(world: World) -> None:
    file_id = world.upload("a.txt", b"alpha beta gamma")
    store = world.store_with(file_id)
    world.queue.enqueue_ingestion(IngestionRef(store, file_id))  # the same message twice
    embedder = RecordingEmbedder()
    outcomes = world.consumer(embedder).run_once()
    assert sorted(outcome.status for outcome in outcomes) == ["completed", "skipped"]
    assert embedder.calls == 1
    assert world.counts(store) == (0, 1, 0, 0)
    assert world.index_objects(store) == [chunks_key(store, file_id)]
    assert world.queue_depth() == (0, 0)


def test_a_live_claim_makes_a_duplicate_wait(world: World) -> None:
    file_id = world.upload("a.txt", b"alpha beta gamma")
    store = world.store_with(file_id)
    claimed = world.repository.claim_file(store, file_id, lease_seconds=LEASE, now=world.clock.now())
    assert claimed is not None
    assert [outcome.status for outcome in world.consumer().run_once()] == ["busy"]
    assert world.queue_depth() == (0, 1)  # left for later, not deleted
    assert world.status(store, file_id) is FileStatus.IN_PROGRESS


def test_killed_worker_is_taken_over_after_its_lease(world: World) -> None:
    files = [world.upload(f"f{index}.txt", f"document {index} text".encode()) for index in range(2)]
    store = world.store_with()
    batch = world.store_files.create_batch(OWNER, store, CreateFileBatchRequest(file_ids=files))
    # Worker A claims the first file and dies before finishing (no write, message never deleted).
    killed = world.consumer()
    received = world.queue.receive_ingestions(max_messages=1, wait_seconds=0)
    dying = received[0].ref
    assert world.repository.claim_file(
        dying.vector_store_id, dying.file_id, lease_seconds=LEASE, now=world.clock.now()
    )
    del killed
    # Worker B gets the other file now, and the dead worker's message when it is delivered again.
    survivor = world.consumer()
    assert [outcome.status for outcome in survivor.run_once()] == ["completed"]
    world.redeliver_all()
    world.clock.advance(LEASE / 2)
    assert [outcome.status for outcome in survivor.run_once()] == ["busy"]  # the lease is still alive
    world.redeliver_all()
    world.clock.advance(LEASE)
    assert [outcome.status for outcome in survivor.run_once()] == ["completed"]
    taken_over = world.repository.find_file(store, dying.file_id)
    assert taken_over is not None and taken_over.attempts == 2
    assert world.counts(store) == (0, 2, 0, 0)
    assert world.store_files.retrieve_batch(OWNER, store, batch.id).status == "completed"
    assert world.queue_depth() == (0, 0)


def test_a_file_that_keeps_killing_workers_fails(world: World) -> None:
    file_id = world.upload("a.txt", b"text")
    store = world.store_with(file_id)
    for _ in range(3):  # three workers claim it and die
        assert world.repository.claim_file(store, file_id, lease_seconds=LEASE, now=world.clock.now())
        world.clock.advance(LEASE + 1)
    assert [outcome.status for outcome in world.consumer().run_once()] == ["failed"]
    file = world.repository.find_file(store, file_id)
    assert file is not None and file.last_error is not None and file.last_error["code"] == "server_error"
    assert world.counts(store) == (0, 0, 1, 0)


def test_cancel_during_ingestion_wins_and_leaves_no_index(world: World) -> None:
    file_id = world.upload("a.txt", b"some words to embed")
    store = world.store_with()
    batch = world.store_files.create_batch(OWNER, store, CreateFileBatchRequest(file_ids=[file_id]))
    embedder = RecordingEmbedder()
    embedder.hook = lambda: world.store_files.cancel_batch(OWNER, store, batch.id)
    assert [outcome.status for outcome in world.consumer(embedder).run_once()] == ["skipped"]
    assert world.status(store, file_id) is FileStatus.CANCELLED
    assert world.counts(store) == (0, 0, 0, 1)
    assert world.index_objects(store) == []
    assert world.queue_depth() == (0, 0)


def test_removed_during_ingestion_leaves_no_index(world: World) -> None:
    file_id = world.upload("a.txt", b"some words to embed")
    store = world.store_with(file_id)
    embedder = RecordingEmbedder()
    embedder.hook = lambda: world.store_files.delete(OWNER, store, file_id)
    assert [outcome.status for outcome in world.consumer(embedder).run_once()] == ["skipped"]
    assert world.repository.find_file(store, file_id) is None
    assert world.counts(store) == (0, 0, 0, 0)
    assert world.index_objects(store) == []


def test_a_storage_error_releases_the_claim_for_a_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id = world.upload("a.txt", b"retry me")
    store = world.store_with(file_id)
    original = world.objects.get_object
    failures = iter([True])

    def flaky(key: str) -> bytes:
        if next(failures, False):
            raise StorageError("injected")
        return original(key)

    monkeypatch.setattr(world.objects, "get_object", flaky)
    consumer = world.consumer()
    assert [outcome.status for outcome in consumer.run_once()] == ["retry"]
    assert world.status(store, file_id) is FileStatus.IN_PROGRESS
    world.redeliver_all()
    assert [outcome.status for outcome in consumer.run_once()] == ["completed"]
    assert world.counts(store) == (0, 1, 0, 0)


def test_a_lost_message_is_sent_again_by_the_stalled_sweep(world: World) -> None:
    lost = world.upload("lost.txt", b"the API died before sending my message")
    claimed = world.upload("claimed.txt", b"a worker is on it")
    store = world.store_with()
    for file_id in (lost, claimed):  # added as the API does, but no message was sent (the API died)
        file = VectorStoreFile(
            id=file_id, owner=OWNER, vector_store_id=store, created_at=int(world.clock.now())
        )
        assert world.repository.add_file(file)
    consumer = world.consumer(stalled_after_seconds=600)
    assert consumer.requeue_stalled() == 0  # too recent to be stalled
    world.clock.advance(601)
    assert world.repository.claim_file(store, claimed, lease_seconds=LEASE, now=world.clock.now())
    assert consumer.requeue_stalled() == 1  # the claimed one has a live lease
    assert [outcome.status for outcome in consumer.run_once()] == ["completed"]
    assert world.status(store, lost) is FileStatus.COMPLETED
    assert [
        file.id for file in world.repository.list_in_progress_files(created_before=world.clock.now())
    ] == [claimed]


class TickingClock(FakeClock):
    """Every reading is ``tick`` seconds after the last: a consumer that waits idle sees time pass."""

    def __init__(self, tick: float) -> None:
        super().__init__()
        self.tick = tick

    def now(self) -> float:
        self.value += self.tick
        return self.value


def test_run_until_idle_ingests_what_is_queued_then_returns(world: World) -> None:
    """The Modal ingestion function's loop (scale to zero): consume, then return once the queue idles."""
    store = world.store_with(world.upload("a.txt", b"alpha text"), world.upload("b.txt", b"beta text"))
    world.clock = TickingClock(1.0)
    consumer = world.consumer()
    assert consumer.run_until_idle(30.0, max_seconds=3600) == 2
    assert world.counts(store) == (0, 2, 0, 0)
    assert world.queue_depth() == (0, 0)

    late = world.store_with(world.upload("c.txt", b"gamma text"))
    assert world.consumer().run_until_idle(30.0, max_seconds=0) == 0  # past its window: takes nothing
    assert world.counts(late) == (1, 0, 0, 0)
    assert world.consumer().run_until_idle(30.0, max_seconds=3600) == 1
    assert world.counts(late) == (0, 1, 0, 0)
