"""The ingestion consumer: receive a (vector store, file) message, claim the file, parse -> chunk -> embed ->
index, finish it. Pure Python over the ports (no boto3, no vLLM, no Modal): the local worker, a Modal
function and the tests drive this same class.

Safety rests on conditional writes, not on this process staying alive:
- ``claim_file`` gives one worker the file for a lease (renewed between embedding batches); a duplicate
  delivery finds it claimed or finished, a dead worker's claim is taken over once its lease ran out;
- the index object has one key per (store, file) and is overwritten, so running twice never indexes twice;
- ``finish_file`` moves the file and the store's/batch's counters in one transaction, only while it is still
  in progress and still this claim: a cancel, a removal or a newer claim wins and this worker's index object
  is deleted if the file no longer wants it;
- the SQS message is deleted only after the file reached a final status.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from assistants_core.domain.chunks import IndexedFile, pack_vectors
from assistants_core.domain.errors import NotFoundError
from assistants_core.domain.vector_stores import FileStatus, VectorStoreFile
from assistants_core.file_ports import (
    ChunkIndex,
    Embedder,
    FileRepository,
    IngestionQueueConsumer,
    IngestionRef,
    ObjectStore,
    ReceivedIngestion,
    VectorStoreRepository,
)
from assistants_core.ports import Clock
from gpu_worker.ingestion.chunking import TokenCounter, chunk_text
from gpu_worker.ingestion.parsers import UnreadableFileError, extract_text

logger = logging.getLogger(__name__)
T = TypeVar("T")

SQS_MAX_BATCH = 10
RETRY_VISIBILITY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class IngestionConfig:
    lease_seconds: int = 120
    max_attempts: int = 3
    embedding_batch_size: int = 32
    receive_wait_seconds: int = 20
    # A file in progress this long without a live claim has lost its message: it is sent again.
    stalled_after_seconds: int = 600


class LostClaimError(Exception):
    """Another writer decided the file (cancelled, removed, or re-claimed after our lease ran out)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # completed | failed | skipped | busy | retry
    chunks: int = 0
    bytes: int = 0


class IngestionConsumer:
    def __init__(
        self,
        queue: IngestionQueueConsumer,
        stores: VectorStoreRepository,
        *,
        files: FileRepository,
        objects: ObjectStore,
        index: ChunkIndex,
        embedder: Embedder,
        counter: TokenCounter,
        clock: Clock,
        config: IngestionConfig | None = None,
    ) -> None:
        self._queue = queue
        self._stores = stores
        self._files = files
        self._objects = objects
        self._index = index
        self._embedder = embedder
        self._counter = counter
        self._clock = clock
        self._config = config or IngestionConfig()

    def run_once(self, *, wait_seconds: int | None = None) -> list[Outcome]:
        wait = self._config.receive_wait_seconds if wait_seconds is None else wait_seconds
        messages = self._queue.receive_ingestions(max_messages=SQS_MAX_BATCH, wait_seconds=wait)
        return [self.handle(message) for message in messages]

    def run_forever(self, stop: threading.Event) -> None:
        next_sweep = 0.0
        while not stop.is_set():
            try:
                if self._clock.now() >= next_sweep:
                    self.requeue_stalled()
                    next_sweep = self._clock.now() + self._config.stalled_after_seconds / 2
                self.run_once()
            except Exception:  # a storage outage must not kill the worker: wait and poll again
                logger.exception("ingestion receive loop failed")
                stop.wait(RETRY_VISIBILITY_SECONDS)

    def run_until_idle(self, idle_seconds: float, *, max_seconds: float) -> int:
        """Consume until no message came for ``idle_seconds`` or ``max_seconds`` have passed (a scale-to-zero
        container: the Modal function's call); returns how many messages were handled. A file still being
        ingested when a call ends is never cut short: this only stops between receives."""
        started = last_message = self._clock.now()
        handled = 0
        self._safely(self.requeue_stalled)
        while True:
            now = self._clock.now()
            idle_left = idle_seconds - (now - last_message)
            if idle_left <= 0 or now - started >= max_seconds:
                return handled
            wait = max(0, min(self._config.receive_wait_seconds, int(idle_left)))
            outcomes = self._safely(functools.partial(self.run_once, wait_seconds=wait)) or []
            if outcomes:
                handled += len(outcomes)
                last_message = self._clock.now()

    def _safely(self, step: Callable[[], T]) -> T | None:
        """``step()``, or None after a logged failure and a pause (a storage outage must not kill the
        worker)."""
        try:
            return step()
        except Exception:
            logger.exception("ingestion receive loop failed")
            time.sleep(RETRY_VISIBILITY_SECONDS)
            return None

    def requeue_stalled(self) -> int:
        """Send again the message of every file in progress for longer than ``stalled_after_seconds`` whose
        claim is absent or ran out: its message was lost (the API died between adding the file and sending
        it) or died in the DLQ. A duplicate is harmless (the claim decides). Returns how many were sent."""
        now = self._clock.now()
        cutoff = now - self._config.stalled_after_seconds
        sent = 0
        for file in self._stores.list_in_progress_files(created_before=cutoff):
            if file.lease_expires_at is None or file.lease_expires_at <= now:
                self._queue.enqueue_ingestion(IngestionRef(file.vector_store_id, file.id))
                sent += 1
        return sent

    def handle(self, message: ReceivedIngestion) -> Outcome:
        ref = message.ref
        file = self._stores.claim_file(
            ref.vector_store_id, ref.file_id, lease_seconds=self._config.lease_seconds, now=self._clock.now()
        )
        if file is None:
            current = self._stores.find_file(ref.vector_store_id, ref.file_id)
            if current is None or current.status.is_terminal:
                self._queue.delete_ingestion_message(message.receipt_handle)
                return Outcome("skipped")
            return Outcome("busy")  # another worker's lease is alive: the message comes back later
        if file.attempts > self._config.max_attempts:
            self._fail(file, "server_error", f"Processing failed {file.attempts - 1} times.")
            self._queue.delete_ingestion_message(message.receipt_handle)
            return Outcome("failed")
        try:
            outcome = self._ingest(file, message)
        except LostClaimError:
            outcome = self._after_lost_claim(file)
        except Exception:
            logger.exception("ingesting %s into %s failed; it will be retried", file.id, file.vector_store_id)
            # Give the claim back and let the message return soon (another worker may try).
            self._stores.renew_claim(file, lease_seconds=0, now=self._clock.now())
            self._queue.extend_visibility(message.receipt_handle, RETRY_VISIBILITY_SECONDS)
            return Outcome("retry")
        self._queue.delete_ingestion_message(message.receipt_handle)
        return outcome

    def _ingest(self, file: VectorStoreFile, message: ReceivedIngestion) -> Outcome:
        try:
            source = self._files.get_file(file.owner, file.id)
            text = extract_text(source.filename, self._objects.get_object(source.body_key))
        except NotFoundError:
            return self._fail(file, "invalid_file", "The file was deleted before it could be processed.")
        except UnreadableFileError as error:
            return self._fail(file, "invalid_file", str(error))
        chunks = [chunk.text for chunk in chunk_text(text, file.chunking, self._counter)]
        vectors: list[list[float]] = []
        size = self._config.embedding_batch_size
        for start in range(0, len(chunks), size):
            self._keep_claim(file, message)
            vectors += self._embedder.embed(chunks[start : start + size])
        indexed = IndexedFile(
            model=self._embedder.name,
            dimensions=self._embedder.dimensions,
            text=text,
            chunks=chunks,
            vectors=pack_vectors(vectors),
        )
        self._keep_claim(file, message)
        stored = self._index.write_file_chunks(file.vector_store_id, file.id, indexed)
        if not self._stores.finish_file(
            file, FileStatus.COMPLETED, usage_bytes=stored, claimed_attempt=file.attempts
        ):
            raise LostClaimError(file.id)
        return Outcome("completed", chunks=len(chunks), bytes=stored)

    def _keep_claim(self, file: VectorStoreFile, message: ReceivedIngestion) -> None:
        if not self._stores.renew_claim(
            file, lease_seconds=self._config.lease_seconds, now=self._clock.now()
        ):
            raise LostClaimError(file.id)
        self._queue.extend_visibility(message.receipt_handle, self._config.lease_seconds * 2)

    def _after_lost_claim(self, file: VectorStoreFile) -> Outcome:
        current = self._stores.find_file(file.vector_store_id, file.id)
        if current is None or current.status in (FileStatus.CANCELLED, FileStatus.FAILED):
            self._index.delete_file_chunks(file.vector_store_id, file.id)  # nobody wants this index
        return Outcome("skipped")

    def _fail(self, file: VectorStoreFile, code: str, message: str) -> Outcome:
        last_error = {"code": code, "message": message}
        if not self._stores.finish_file(
            file, FileStatus.FAILED, last_error=last_error, claimed_attempt=file.attempts
        ):
            return self._after_lost_claim(file)
        self._index.delete_file_chunks(file.vector_store_id, file.id)
        return Outcome("failed")
