"""``POST /vector_stores/{id}/search``: embed the query with the ingestion model, filter the store's
completed files on their attributes, load their index objects (cached per process), rank chunks hybrid
(vector + BM25) or by vector alone (``ranking_options.ranker: none``). Searching makes the store active."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.models import PageRequest
from assistants_core.domain.vector_stores import FileStatus, VectorStoreFile
from assistants_core.file_ports import ChunkIndex, Embedder, VectorStoreRepository
from assistants_core.ports import Clock
from assistants_core.schemas.vector_stores import (
    SearchResultContent,
    SearchResultItem,
    VectorStoreSearchRequest,
    VectorStoreSearchResults,
)
from assistants_core.services.attribute_filters import matches, validate_filter
from assistants_core.services.hybrid_search import LoadedFile, LoadedFileCache, rank
from assistants_core.services.vector_store_rules import require_store_id

_LOAD_THREADS = 8
_PAGE = 100


@dataclass(frozen=True, slots=True)
class StoreHit:
    """One ranked chunk: its store file, its text and its score in [0, 1]."""

    file: VectorStoreFile
    text: str
    score: float


class VectorStoreSearchService:
    def __init__(
        self,
        stores: VectorStoreRepository,
        index: ChunkIndex,
        embedder: Embedder | None,
        clock: Clock,
        cache: LoadedFileCache | None = None,
    ) -> None:
        self._stores = stores
        self._index = index
        self._embedder = embedder
        self._clock = clock
        self._cache = cache or LoadedFileCache()

    def _completed_files(self, vector_store_id: str) -> list[VectorStoreFile]:
        files: list[VectorStoreFile] = []
        after: str | None = None
        while True:
            page = self._stores.list_files(
                vector_store_id,
                PageRequest(limit=_PAGE, order="asc", after=after),
                status=FileStatus.COMPLETED,
            )
            files += page.data
            if not page.has_more or not page.data:
                return files
            after = page.data[-1].id

    def _load(self, file: VectorStoreFile) -> LoadedFile | None:
        key = (file.vector_store_id, file.id, file.created_at, file.attempts, file.usage_bytes)
        loaded = self._cache.get(key)
        if loaded is None:
            indexed = self._index.read_file_chunks(file.vector_store_id, file.id)
            if indexed is None:
                return None
            loaded = LoadedFile.of(file.id, indexed)
            self._cache.put(key, loaded)
        return loaded

    def search(
        self, owner: str, vector_store_id: str, request: VectorStoreSearchRequest
    ) -> VectorStoreSearchResults:
        require_store_id(vector_store_id)
        queries = [request.query] if isinstance(request.query, str) else list(request.query)
        if not queries or any(not query.strip() for query in queries):
            raise InvalidRequestError("Invalid 'query': expected a non-empty string.", param="query")
        if request.filters is not None:
            validate_filter(request.filters)
        store = self._stores.get_store(owner, vector_store_id)
        now = self._clock.now()
        if store.status(now) == "expired":
            raise InvalidRequestError(f"Vector store {vector_store_id} is expired.", param="vector_store_id")
        if self._embedder is None:
            raise InvalidRequestError(
                "Search is not available: no embedding model is configured "
                "(ASSISTANTS_EMBEDDING_MODEL_PATH).",
                param="vector_store_id",
            )
        files = self._completed_files(vector_store_id)
        if request.filters is not None:
            filters = request.filters
            files = [file for file in files if matches(filters, file.attributes)]
        options = request.ranking_options
        hits = self._rank_files(
            files,
            queries,
            hybrid=options is None or options.ranker != "none",
            limit=request.max_num_results,
            threshold=options.score_threshold if options else 0.0,
        )
        store.last_active_at = int(now)
        self._stores.update_store_fields(store, ["last_active_at"])
        return VectorStoreSearchResults(
            search_query=queries,
            data=[
                SearchResultItem(
                    file_id=hit.file.id,
                    filename=hit.file.filename,
                    score=round(hit.score, 6),
                    attributes=hit.file.attributes,
                    content=[SearchResultContent(text=hit.text)],
                )
                for hit in hits
            ],
        )

    def search_stores(
        self, owner: str, vector_store_ids: list[str], queries: list[str], *, limit: int, threshold: float
    ) -> list[StoreHit]:
        """The ``file_search`` tool of a run (``gpu_worker.file_search``): the ``limit`` best chunks of the
        completed files of these stores of ``owner``, ranked hybrid together, at least ``threshold``. Stores
        gone or expired are skipped; the others become active (``last_active_at``)."""
        if self._embedder is None:
            raise InvalidRequestError(
                "file_search is not available: no embedding model is configured "
                "(ASSISTANTS_EMBEDDING_MODEL_PATH).",
                param="tools",
            )
        now = self._clock.now()
        files: list[VectorStoreFile] = []
        seen: set[str] = set()  # a file in two stores is searched once
        for vector_store_id in vector_store_ids:
            store = self._stores.find_store(vector_store_id)
            if store is None or store.owner != owner or store.status(now) == "expired":
                continue
            files += [file for file in self._completed_files(vector_store_id) if file.id not in seen]
            seen |= {file.id for file in files}
            store.last_active_at = int(now)
            self._stores.update_store_fields(store, ["last_active_at"])
        return self._rank_files(files, queries, hybrid=True, limit=limit, threshold=threshold)

    def _rank_files(
        self, files: list[VectorStoreFile], queries: list[str], *, hybrid: bool, limit: int, threshold: float
    ) -> list[StoreHit]:
        assert self._embedder is not None
        with ThreadPoolExecutor(max_workers=_LOAD_THREADS) as pool:
            loaded = [item for item in pool.map(self._load, files) if item is not None]
        ranked = rank(
            loaded,
            self._embedder.embed(queries),
            queries,
            hybrid=hybrid,
            limit=limit,
            threshold=threshold,
        )
        by_id = {file.id: file for file in files}
        texts = {item.file_id: item for item in loaded}
        return [
            StoreHit(by_id[hit.file_id], texts[hit.file_id].chunks[hit.chunk], hit.score) for hit in ranked
        ]
