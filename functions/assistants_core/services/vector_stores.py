"""Vector store use cases: create (with files), retrieve, modify, delete, list."""

from __future__ import annotations

from assistants_core.domain import ids
from assistants_core.domain import vector_stores as rules
from assistants_core.domain.models import Page
from assistants_core.domain.vector_stores import VectorStore
from assistants_core.file_ports import ChunkIndex, FileRepository, VectorStoreRepository
from assistants_core.ports import Clock
from assistants_core.schemas.vector_stores import CreateVectorStoreRequest, UpdateVectorStoreRequest
from assistants_core.services.files import require_file_id
from assistants_core.services.validation import page_request, validate_metadata
from assistants_core.services.vector_store_files import VectorStoreFileService
from assistants_core.services.vector_store_rules import chunking_of, expiry_days_of, require_store_id


class VectorStoreService:
    def __init__(
        self,
        stores: VectorStoreRepository,
        files: FileRepository,
        store_files: VectorStoreFileService,
        index: ChunkIndex,
        clock: Clock,
    ) -> None:
        self._stores = stores
        self._files = files
        self._store_files = store_files
        self._index = index
        self._clock = clock

    def create(self, owner: str, request: CreateVectorStoreRequest) -> VectorStore:
        metadata = validate_metadata(request.metadata)
        chunking = chunking_of(request.chunking_strategy)
        days = expiry_days_of(request.expires_after)
        for index, file_id in enumerate(request.file_ids):  # all files exist before anything is written
            require_file_id(file_id, param=f"file_ids[{index}]")
            self._files.get_file(owner, file_id)
        now = self._clock.now()
        store = VectorStore(
            id=ids.new_id(rules.VECTOR_STORE, now_ms=int(now * 1000)),
            owner=owner,
            created_at=int(now),
            name=request.name,
            description=request.description,
            metadata=metadata,
            expires_after_days=days,
            last_active_at=int(now),
        )
        self._stores.create_store(store)
        for file_id in dict.fromkeys(request.file_ids):
            self._store_files.attach(owner, store.id, file_id, chunking=chunking, attributes={})
        return self._stores.get_store(owner, store.id)

    def retrieve(self, owner: str, vector_store_id: str) -> VectorStore:
        require_store_id(vector_store_id)
        return self._stores.get_store(owner, vector_store_id)

    def modify(self, owner: str, vector_store_id: str, request: UpdateVectorStoreRequest) -> VectorStore:
        """Change only the fields present; ``expires_after: null`` removes the expiry."""
        require_store_id(vector_store_id)
        changed = request.model_fields_set
        metadata = validate_metadata(request.metadata) if "metadata" in changed else None
        days = expiry_days_of(request.expires_after)
        store = self._stores.get_store(owner, vector_store_id)
        names: list[str] = []
        if "name" in changed:
            store.name = request.name
            names.append("name")
        if "expires_after" in changed:
            store.expires_after_days = days
            names.append("expires_after_days")
        if metadata is not None:
            store.metadata = metadata
            names.append("metadata")
        if not names:
            return store
        return self._stores.update_store_fields(store, names)

    def delete(self, owner: str, vector_store_id: str) -> None:
        require_store_id(vector_store_id)
        self._stores.delete_store(owner, vector_store_id)
        self._index.delete_store_chunks(vector_store_id)

    def list(
        self,
        owner: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> Page[VectorStore]:
        return self._stores.list_stores(owner, page_request(limit, order, after, before))
