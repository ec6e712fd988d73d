"""``tool_resources.file_search`` of assistants, threads and thread-and-run (FILE_SEARCH_CONTRACT.md item 1):
``vector_store_ids`` must name existing stores of the same tenant (404 naming the id's param otherwise), and
``vector_stores`` (the create-time helper) creates the one store it describes and names it.

Two steps, so that a bad request writes nothing: ``check`` validates everything (stores, files, chunking,
metadata) and returns the resources as stored without the helper; ``create_inline_store`` (called once every
other rule of the request passed) creates the helper's store and returns the resources naming it."""

from __future__ import annotations

from typing import Any

from assistants_core.domain.errors import InvalidRequestError, NotFoundError
from assistants_core.domain.vector_stores import VECTOR_STORE
from assistants_core.file_ports import FileRepository, VectorStoreRepository
from assistants_core.schemas.common import ToolResources
from assistants_core.schemas.tool_resources import FileSearchResourcesInput, InlineVectorStore
from assistants_core.schemas.vector_stores import CreateVectorStoreRequest, ExpiresAfter
from assistants_core.services.thread_vector_stores import THREAD_STORE_EXPIRY_DAYS, require_owned_file
from assistants_core.services.validation import require_id, validate_metadata
from assistants_core.services.vector_store_rules import chunking_of
from assistants_core.services.vector_stores import VectorStoreService


def inline_store_of(resources: ToolResources | None) -> InlineVectorStore | None:
    file_search = resources.file_search if resources is not None else None
    if isinstance(file_search, FileSearchResourcesInput) and file_search.vector_stores:
        return file_search.vector_stores[0]
    return None


def stored_form(resources: ToolResources | None) -> dict[str, Any] | None:
    """The resources as stored (the ``vector_stores`` helper is not stored; the store it makes is)."""
    if resources is None:
        return None
    stored = resources.model_dump(exclude_none=True)
    if "file_search" in stored:
        stored["file_search"].pop("vector_stores", None)
    return stored


class ToolResourceService:
    def __init__(
        self, stores: VectorStoreRepository, files: FileRepository, vector_stores: VectorStoreService
    ) -> None:
        self._stores = stores
        self._files = files
        self._vector_stores = vector_stores

    def check(
        self, owner: str, resources: ToolResources | None, *, param: str = "tool_resources"
    ) -> dict[str, Any] | None:
        """Validate ``resources`` (writes nothing) and return their stored form without the helper."""
        file_search = resources.file_search if resources is not None else None
        if file_search is None:
            return stored_form(resources)
        prefix = f"{param}.file_search"
        inline = inline_store_of(resources)
        if inline is not None and file_search.vector_store_ids:
            raise InvalidRequestError(
                f"Invalid '{prefix}': give either 'vector_store_ids' or 'vector_stores', not both.",
                param=prefix,
            )
        for index, store_id in enumerate(file_search.vector_store_ids):
            store_param = f"{prefix}.vector_store_ids[{index}]"
            require_id(store_id, VECTOR_STORE, param=store_param)
            store = self._stores.find_store(store_id)
            if store is None or store.owner != owner:
                raise NotFoundError("vector store", store_id, param=store_param)
        if inline is not None:
            self._check_inline(owner, inline, param=f"{prefix}.vector_stores[0]")
        return stored_form(resources)

    def _check_inline(self, owner: str, inline: InlineVectorStore, *, param: str) -> None:
        chunking_of(inline.chunking_strategy, name=f"{param}.chunking_strategy")
        validate_metadata(inline.metadata, param=f"{param}.metadata")
        for index, file_id in enumerate(inline.file_ids):
            require_owned_file(self._files, owner, file_id, param=f"{param}.file_ids[{index}]")

    def create_inline_store(
        self,
        owner: str,
        resources: ToolResources | None,
        stored: dict[str, Any] | None,
        *,
        for_thread: bool,
    ) -> dict[str, Any] | None:
        """After ``check``: create the helper's store (a thread's expires 7 days after it was last active,
        as OpenAI's thread helpers do) and return ``stored`` naming it (unchanged without a helper)."""
        inline = inline_store_of(resources)
        if inline is None:
            return stored
        request = CreateVectorStoreRequest(
            file_ids=inline.file_ids,
            chunking_strategy=inline.chunking_strategy,
            metadata=inline.metadata,
            expires_after=(
                ExpiresAfter(anchor="last_active_at", days=THREAD_STORE_EXPIRY_DAYS) if for_thread else None
            ),
        )
        store = self._vector_stores.create(owner, request)
        result = dict(stored or {})
        result["file_search"] = {**result.get("file_search", {}), "vector_store_ids": [store.id]}
        return result


def check_tool_resources(
    service: ToolResourceService | None,
    owner: str,
    resources: ToolResources | None,
    *,
    param: str = "tool_resources",
) -> dict[str, Any] | None:
    """``service.check``; a service built without vector stores (``None``) refuses any store reference."""
    if service is not None:
        return service.check(owner, resources, param=param)
    file_search = resources.file_search if resources is not None else None
    if file_search is not None and (file_search.vector_store_ids or inline_store_of(resources)):
        raise InvalidRequestError(
            f"Invalid '{param}.file_search': vector stores are not configured on this server.",
            param=f"{param}.file_search",
        )
    return stored_form(resources)


def with_inline_store(
    service: ToolResourceService | None,
    owner: str,
    resources: ToolResources | None,
    stored: dict[str, Any] | None,
    *,
    for_thread: bool,
) -> dict[str, Any] | None:
    """``service.create_inline_store`` (after ``check_tool_resources``, which refused a helper when there is
    no service)."""
    if service is None:
        return stored
    return service.create_inline_store(owner, resources, stored, for_thread=for_thread)


def names_stores(resources: ToolResources | None) -> bool:
    """Whether ``resources`` name a file_search store (by id or with the helper)."""
    file_search = resources.file_search if resources is not None else None
    return file_search is not None and bool(file_search.vector_store_ids or inline_store_of(resources))


def merged_thread_resources(
    service: ToolResourceService | None,
    owner: str,
    thread_resources: ToolResources | None,
    run_resources: ToolResources | None,
    *,
    param: str,
) -> dict[str, Any] | None:
    """Thread-and-run: the new thread's own ``tool_resources`` (``param``) and the request's top-level ones,
    each checked, stored together on the thread (what the worker reads besides the assistant's). A thread
    holds one vector store, so both naming one is a 400 rather than one silently dropped."""
    thread_stored = check_tool_resources(service, owner, thread_resources, param=param)
    run_stored = check_tool_resources(service, owner, run_resources)
    if names_stores(thread_resources) and names_stores(run_resources):
        raise InvalidRequestError(
            "Invalid 'tool_resources.file_search': the thread holds one vector store; name it either in "
            f"'{param}.file_search' or in 'tool_resources.file_search', not both.",
            param="tool_resources.file_search",
        )
    if thread_stored is None and run_stored is None:
        return None
    merged = dict(run_stored or {})
    for tool, value in (thread_stored or {}).items():
        if tool != "file_search" or names_stores(thread_resources) or tool not in merged:
            merged[tool] = value
    return merged
