"""Ports of files, uploads and vector stores (kept beside ``ports.py`` so each resource's ports stay small).

Same rules as ``ports.py``: every read of a tenant's object takes ``owner`` and raises ``NotFoundError`` for
another tenant's object; conditional writes that lose raise ``ConflictError`` (or what is documented).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from assistants_core.domain.chunks import IndexedFile
from assistants_core.domain.files import StoredFile, Upload, UploadPart
from assistants_core.domain.models import Page, PageRequest
from assistants_core.domain.vector_stores import FileBatch, FileStatus, VectorStore, VectorStoreFile


class FileRepository(Protocol):
    def put_file(self, file: StoredFile) -> None:
        """Put a new file's metadata (condition: the id is new)."""

    def get_file(self, owner: str, file_id: str) -> StoredFile: ...
    def delete_file(self, owner: str, file_id: str) -> StoredFile:
        """Delete the metadata of this owner's file and return what was deleted."""

    def list_files(
        self, owner: str, page: PageRequest, *, purpose: str | None = None, now: float | None = None
    ) -> Page[StoredFile]:
        """A page of this owner's files (of ``purpose``; not expired at ``now``)."""


class ObjectStore(Protocol):
    """File bodies (S3)."""

    def put_object(self, key: str, body: bytes, *, content_type: str) -> None: ...
    def get_object(self, key: str) -> bytes: ...
    def delete_objects(self, keys: list[str]) -> None:
        """Delete these keys (absent keys are fine)."""

    def assemble(self, key: str, sources: list[str], *, content_type: str) -> str:
        """Write the concatenation of the ``sources`` objects, in order, to ``key`` (an S3 multipart upload;
        aborted on failure, so nothing is left behind) and return its MD5 hex digest."""


class UploadRepository(Protocol):
    def put_upload(self, upload: Upload) -> None: ...
    def get_upload(self, owner: str, upload_id: str) -> Upload: ...
    def add_part(self, owner: str, part: UploadPart) -> None:
        """Put ``part`` iff its upload is this owner's and still ``pending`` (``UploadStateError`` else)."""

    def list_parts(self, upload_id: str) -> list[UploadPart]: ...
    def complete_upload(self, upload: Upload, file: StoredFile) -> Upload:
        """One transaction: upload ``pending`` -> ``completed`` (with ``file_id``) and put ``file``.
        ``UploadStateError`` when the upload is no longer pending."""

    def cancel_upload(self, owner: str, upload_id: str) -> Upload:
        """``pending`` -> ``cancelled``; ``UploadStateError`` when it is not pending."""

    def delete_parts(self, upload_id: str, part_ids: list[str]) -> None: ...


class VectorStoreRepository(Protocol):
    """Stores, their files and batches. Status changes of a store file update its store's (and batch's)
    counters in the same transaction (``adapters.dynamodb.vector_stores``)."""

    def create_store(self, store: VectorStore) -> None: ...
    def get_store(self, owner: str, vector_store_id: str) -> VectorStore: ...
    def find_store(self, vector_store_id: str) -> VectorStore | None: ...
    def update_store_fields(self, store: VectorStore, names: list[str]) -> VectorStore: ...
    def delete_store(self, owner: str, vector_store_id: str) -> list[str]:
        """Delete the store with its files, batches and links; returns its files' ids."""

    def list_stores(self, owner: str, page: PageRequest) -> Page[VectorStore]: ...
    def add_file(self, file: VectorStoreFile) -> bool:
        """False when the store already has this file; ``NotFoundError`` when the store is gone."""

    def get_file(self, owner: str, vector_store_id: str, file_id: str) -> VectorStoreFile: ...
    def find_file(self, vector_store_id: str, file_id: str) -> VectorStoreFile | None: ...
    def list_files(
        self,
        vector_store_id: str,
        page: PageRequest,
        *,
        status: FileStatus | None = None,
        batch_id: str | None = None,
        in_added_order: bool = False,
    ) -> Page[VectorStoreFile]:
        """A page in file-id order (consistent reads), or ``in_added_order``: by ``created_at`` (the time the
        file was added to the store), as OpenAI lists."""

    def set_attributes(self, file: VectorStoreFile) -> None: ...
    def remove_file(self, file: VectorStoreFile) -> bool:
        """False when the file changed since it was read."""

    def finish_file(
        self,
        file: VectorStoreFile,
        target: FileStatus,
        *,
        usage_bytes: int = 0,
        last_error: dict[str, str] | None = None,
        claimed_attempt: int | None = None,
    ) -> bool:
        """in_progress -> target (iff still in progress and, with ``claimed_attempt``, still that claim)."""

    def claim_file(
        self, vector_store_id: str, file_id: str, *, lease_seconds: float, now: float
    ) -> VectorStoreFile | None: ...
    def renew_claim(self, file: VectorStoreFile, *, lease_seconds: float, now: float) -> bool: ...
    def stores_of_file(self, file_id: str) -> list[str]: ...
    def list_in_progress_files(self, *, created_before: float, limit: int = 100) -> list[VectorStoreFile]:
        """In-progress store files added before ``created_before``, oldest first (a sparse index)."""

    def put_batch(self, batch: FileBatch) -> None: ...
    def get_batch(self, owner: str, vector_store_id: str, batch_id: str) -> FileBatch: ...
    def mark_batch_cancelled(self, batch: FileBatch) -> None: ...
    def set_batch_expected(self, batch: FileBatch, expected: int) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestionRef:
    vector_store_id: str
    file_id: str


@dataclass(frozen=True, slots=True)
class ReceivedIngestion:
    ref: IngestionRef
    receipt_handle: str
    receive_count: int


class IngestionQueue(Protocol):
    """Producer side of the ingestion queue (API)."""

    def enqueue_ingestion(self, ref: IngestionRef) -> None: ...


class IngestionQueueConsumer(Protocol):
    """Consumer side (ingestion worker); it also sends again the messages of stalled files."""

    def enqueue_ingestion(self, ref: IngestionRef) -> None: ...

    def receive_ingestions(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedIngestion]: ...
    def delete_ingestion_message(self, receipt_handle: str) -> None: ...
    def extend_visibility(self, receipt_handle: str, seconds: int) -> None: ...


class ChunkIndex(Protocol):
    """Where a store's indexed files live: one object per (store, file), overwritten, never appended."""

    def write_file_chunks(self, vector_store_id: str, file_id: str, indexed: IndexedFile) -> int: ...
    def read_file_chunks(self, vector_store_id: str, file_id: str) -> IndexedFile | None: ...
    def delete_file_chunks(self, vector_store_id: str, file_id: str) -> None: ...
    def delete_store_chunks(self, vector_store_id: str) -> None: ...


class Embedder(Protocol):
    """Text -> unit-length vectors (cosine similarity = dot product)."""

    @property
    def name(self) -> str: ...
    @property
    def dimensions(self) -> int: ...
    def embed(self, texts: list[str]) -> list[list[float]]: ...


@dataclass(frozen=True, slots=True)
class ExpiringObject:
    kind: str  # "vs" (a vector store) or "file"
    id: str
    expires_at: int


class ExpiredObjects(Protocol):
    """The index of files and vector stores with an expiry, and the deletes of the expiry sweep."""

    def list_expired(self, *, now: float, limit: int) -> list[ExpiringObject]:
        """Objects whose expiry is at or before ``now``, soonest first."""

    def find_file(self, file_id: str) -> StoredFile | None: ...
    def delete_file(self, file: StoredFile) -> bool:
        """Delete the file's metadata iff unchanged owner and expiry; False when it was not."""

    def delete_store_contents(self, vector_store_id: str) -> list[str]:
        """Delete the store's files, batches and links (idempotent); returns its file ids."""

    def delete_store(self, store: VectorStore) -> bool:
        """Delete the store item iff unchanged owner and expiry (not renewed meanwhile)."""
