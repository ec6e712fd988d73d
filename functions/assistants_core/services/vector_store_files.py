"""Files in vector stores and file batches: attach (enqueue ingestion), retrieve, list with ``filter``,
attributes, detach, batches (create, retrieve, cancel, list files), and detaching a deleted file from
every store it is in. Every status change goes through ``VectorStoreRepository``'s counted transactions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from assistants_core.domain import files as file_rules
from assistants_core.domain import ids
from assistants_core.domain import vector_stores as rules
from assistants_core.domain.errors import ConflictError, InvalidRequestError
from assistants_core.domain.models import Page
from assistants_core.domain.vector_stores import (
    Attributes,
    ChunkingStrategy,
    FileBatch,
    FileStatus,
    VectorStoreFile,
)
from assistants_core.file_ports import (
    ChunkIndex,
    FileRepository,
    IngestionQueue,
    IngestionRef,
    VectorStoreRepository,
)
from assistants_core.ports import Clock
from assistants_core.schemas.vector_stores import CreateFileBatchRequest, CreateVectorStoreFileRequest
from assistants_core.services.files import require_file_id
from assistants_core.services.validation import page_request
from assistants_core.services.vector_store_rules import (
    chunking_of,
    require_batch_id,
    require_store_id,
    validate_attributes,
)

logger = logging.getLogger(__name__)

_REMOVE_RETRIES = 5
UNSUPPORTED_FILE = "unsupported_file"


class VectorStoreFileService:
    def __init__(
        self,
        stores: VectorStoreRepository,
        files: FileRepository,
        queue: IngestionQueue,
        index: ChunkIndex,
        clock: Clock,
    ) -> None:
        self._stores = stores
        self._files = files
        self._queue = queue
        self._index = index
        self._clock = clock

    # -- single files ---------------------------------------------------------------------------------------
    def create(
        self, owner: str, vector_store_id: str, request: CreateVectorStoreFileRequest
    ) -> VectorStoreFile:
        require_store_id(vector_store_id)
        self._stores.get_store(owner, vector_store_id)
        return self.attach(
            owner,
            vector_store_id,
            request.file_id,
            chunking=chunking_of(request.chunking_strategy),
            attributes=validate_attributes(request.attributes),
        )

    def attach(
        self,
        owner: str,
        vector_store_id: str,
        file_id: str,
        *,
        chunking: ChunkingStrategy,
        attributes: Mapping[str, Any],
        batch_id: str | None = None,
    ) -> VectorStoreFile:
        """Add an existing file of this owner to the store and enqueue its ingestion. Adding a file the store
        already has returns it unchanged."""
        require_file_id(file_id, param="file_id")
        source = self._files.get_file(owner, file_id)
        file = VectorStoreFile(
            id=file_id,
            owner=owner,
            vector_store_id=vector_store_id,
            created_at=int(self._clock.now()),
            chunking=chunking,
            attributes=dict(attributes),
            batch_id=batch_id,
            filename=source.filename,
        )
        if not self._stores.add_file(file):
            return self._stores.get_file(owner, vector_store_id, file_id)
        if file_rules.extension_of(source.filename) not in file_rules.SEARCHABLE_EXTENSIONS:
            self._fail(
                file, UNSUPPORTED_FILE, f"File type of '{source.filename}' is not supported by file_search."
            )
        else:
            try:
                self._queue.enqueue_ingestion(IngestionRef(vector_store_id, file_id))
            except Exception:
                logger.exception("enqueueing ingestion of %s in %s failed", file_id, vector_store_id)
                self._fail(file, "server_error", "The file could not be queued for processing; add it again.")
        return self._stores.get_file(owner, vector_store_id, file_id)

    def _fail(self, file: VectorStoreFile, code: str, message: str) -> None:
        self._stores.finish_file(file, FileStatus.FAILED, last_error={"code": code, "message": message})

    def retrieve(self, owner: str, vector_store_id: str, file_id: str) -> VectorStoreFile:
        require_store_id(vector_store_id)
        require_file_id(file_id, param="file_id")
        return self._stores.get_file(owner, vector_store_id, file_id)

    def list(
        self,
        owner: str,
        vector_store_id: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
        status_filter: str | None = None,
        batch_id: str | None = None,
    ) -> Page[VectorStoreFile]:
        require_store_id(vector_store_id)
        page = page_request(limit, order, after, before)
        status = None
        if status_filter is not None:
            try:
                status = FileStatus(status_filter)
            except ValueError:
                expected = ", ".join(f"'{value.value}'" for value in FileStatus)
                raise InvalidRequestError(
                    f"Invalid value for 'filter': expected one of {expected}, but got '{status_filter}' "
                    "instead.",
                    param="filter",
                ) from None
        if batch_id is not None:
            require_batch_id(batch_id)
            self._stores.get_batch(owner, vector_store_id, batch_id)
        else:
            self._stores.get_store(owner, vector_store_id)
        return self._stores.list_files(
            vector_store_id, page, status=status, batch_id=batch_id, in_added_order=True
        )

    def content(self, owner: str, vector_store_id: str, file_id: str) -> str | None:
        """The parsed text of a processed file (None while it is not processed)."""
        file = self.retrieve(owner, vector_store_id, file_id)
        if file.status is not FileStatus.COMPLETED:
            return None
        indexed = self._index.read_file_chunks(vector_store_id, file_id)
        return indexed.text if indexed is not None else None

    def update_attributes(
        self, owner: str, vector_store_id: str, file_id: str, attributes: Mapping[str, Any] | None
    ) -> VectorStoreFile:
        file = self.retrieve(owner, vector_store_id, file_id)
        file.attributes = validate_attributes(attributes)
        self._stores.set_attributes(file)
        return file

    def delete(self, owner: str, vector_store_id: str, file_id: str) -> None:
        """Remove the file from the store (the file itself stays)."""
        self.retrieve(owner, vector_store_id, file_id)
        self._remove(owner, vector_store_id, file_id)

    def _remove(self, owner: str, vector_store_id: str, file_id: str) -> None:
        for _ in range(_REMOVE_RETRIES):
            file = self._stores.find_file(vector_store_id, file_id)
            if file is None or file.owner != owner:
                break
            if self._stores.remove_file(file):
                break
        else:
            raise ConflictError("The file's status changed while it was being removed; please retry.")
        self._index.delete_file_chunks(vector_store_id, file_id)

    def detach_everywhere(self, owner: str, file_id: str) -> None:
        """Before a file is deleted: take it out of every store it is in (counts and chunks included)."""
        for vector_store_id in self._stores.stores_of_file(file_id):
            self._remove(owner, vector_store_id, file_id)

    # -- batches --------------------------------------------------------------------------------------------
    def create_batch(self, owner: str, vector_store_id: str, request: CreateFileBatchRequest) -> FileBatch:
        require_store_id(vector_store_id)
        if (request.file_ids is None) == (request.files is None):
            raise InvalidRequestError("Provide exactly one of 'file_ids' or 'files'.", param="file_ids")
        default_chunking = chunking_of(request.chunking_strategy)
        default_attributes = validate_attributes(request.attributes)
        wanted: list[tuple[str, ChunkingStrategy, Attributes]]
        if request.files is not None:
            wanted = [
                (
                    entry.file_id,
                    chunking_of(entry.chunking_strategy, name=f"files[{index}].chunking_strategy")
                    if entry.chunking_strategy is not None
                    else default_chunking,
                    validate_attributes(entry.attributes, param=f"files[{index}].attributes")
                    if entry.attributes is not None
                    else default_attributes,
                )
                for index, entry in enumerate(request.files)
            ]
        else:
            wanted = [(file_id, default_chunking, default_attributes) for file_id in request.file_ids or []]
        if len({file_id for file_id, _, _ in wanted}) != len(wanted):
            raise InvalidRequestError("A file is listed twice in the batch.", param="file_ids")
        self._stores.get_store(owner, vector_store_id)
        for index, (file_id, _, _) in enumerate(wanted):  # every file must exist before anything is written
            require_file_id(file_id, param=f"file_ids[{index}]")
            self._files.get_file(owner, file_id)
        # A file the store already has is not added again, and so is not part of the batch.
        wanted = [entry for entry in wanted if self._stores.find_file(vector_store_id, entry[0]) is None]
        now = self._clock.now()
        batch = FileBatch(
            id=ids.new_id(rules.FILE_BATCH, now_ms=int(now * 1000)),
            owner=owner,
            vector_store_id=vector_store_id,
            created_at=int(now),
            expected=len(wanted),
        )
        self._stores.put_batch(batch)
        added = 0
        for file_id, chunking, attributes in wanted:
            file = self.attach(
                owner, vector_store_id, file_id, chunking=chunking, attributes=attributes, batch_id=batch.id
            )
            added += file.batch_id == batch.id
        if added != batch.expected:  # a concurrent request added one of the files first
            self._stores.set_batch_expected(batch, added)
        return self._stores.get_batch(owner, vector_store_id, batch.id)

    def retrieve_batch(self, owner: str, vector_store_id: str, batch_id: str) -> FileBatch:
        require_store_id(vector_store_id)
        require_batch_id(batch_id)
        return self._stores.get_batch(owner, vector_store_id, batch_id)

    def cancel_batch(self, owner: str, vector_store_id: str, batch_id: str) -> FileBatch:
        """Cancel the batch's files still in progress (a worker finishing one later loses its write)."""
        batch = self.retrieve_batch(owner, vector_store_id, batch_id)
        if batch.status != "in_progress":
            raise InvalidRequestError(
                f"Cannot cancel vector store file batch {batch_id} with status '{batch.status}'.",
                param="batch_id",
            )
        self._stores.mark_batch_cancelled(batch)
        after: str | None = None
        while True:
            page = self._stores.list_files(
                vector_store_id,
                page_request(100, "asc", after, None),
                status=FileStatus.IN_PROGRESS,
                batch_id=batch_id,
            )
            for file in page.data:
                if self._stores.finish_file(file, FileStatus.CANCELLED):
                    self._index.delete_file_chunks(vector_store_id, file.id)
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
        return self._stores.get_batch(owner, vector_store_id, batch_id)
