"""Message attachments with ``file_search`` (FILE_SEARCH_CONTRACT.md item 2): each attached file is added to
the thread's vector store, created on demand, and the thread's ``tool_resources.file_search`` names it.

Crash-safe and idempotent under retries: every attachment's file is checked (exists, this tenant's) before
anything is written; then, in this order, the store is created if absent (its id is derived from the thread
id, so a retried request finds the store its first attempt made), each file is added (adding a file the store
has is a no-op), the thread's ``tool_resources`` are set (compare-and-set), and only then is the message
written by the caller. A request that dies between two steps leaves a state the retry converges from. A
thread that already names a store of this tenant uses that one, as OpenAI does."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain import vector_stores as rules
from assistants_core.domain.errors import ConflictError, InvalidRequestError, NotFoundError, ThreadBusyError
from assistants_core.domain.models import Message, Thread
from assistants_core.domain.vector_stores import ChunkingStrategy, VectorStore
from assistants_core.file_ports import FileRepository, VectorStoreRepository
from assistants_core.ports import Clock, ThreadRepository
from assistants_core.services.files import require_file_id
from assistants_core.services.vector_store_files import VectorStoreFileService

# OpenAI: stores made by thread helpers expire 7 days after they were last active.
THREAD_STORE_EXPIRY_DAYS = 7
_SET_ATTEMPTS = 3
# (param prefix such as "messages[0].", message)
PreparedMessages = Sequence[tuple[str, Message]]


def require_owned_file(files: FileRepository, owner: str, file_id: str, *, param: str) -> None:
    """The file exists and is ``owner``'s, else a 404 naming ``param`` (writes nothing)."""
    require_file_id(file_id, param=param)
    try:
        files.get_file(owner, file_id)
    except NotFoundError:
        raise NotFoundError("file", file_id, param=param) from None


def thread_store_id(thread_id: str) -> str:
    """The id of the store a thread's attachments create: the same for every attempt of a request."""
    return ids.derived_id(rules.VECTOR_STORE, thread_id)


def store_ids_of(tool_resources: dict[str, Any] | None) -> list[str]:
    ids_: list[str] = ((tool_resources or {}).get("file_search") or {}).get("vector_store_ids") or []
    return list(ids_)


def with_store_id(tool_resources: dict[str, Any] | None, store_id: str) -> dict[str, Any]:
    resources = dict(tool_resources or {})
    resources["file_search"] = {**(resources.get("file_search") or {}), "vector_store_ids": [store_id]}
    return resources


class ThreadVectorStores:
    def __init__(
        self,
        threads: ThreadRepository,
        stores: VectorStoreRepository,
        files: FileRepository,
        store_files: VectorStoreFileService,
        clock: Clock,
    ) -> None:
        self._threads = threads
        self._stores = stores
        self._files = files
        self._store_files = store_files
        self._clock = clock

    def searched_files(self, owner: str, messages: PreparedMessages) -> list[str]:
        """The files the messages attach for ``file_search`` (each checked: exists, this tenant's), in order,
        without repeats. Writes nothing."""
        file_ids: list[str] = []
        for prefix, message in messages:
            for index, attachment in enumerate(message.attachments):
                if not any(tool.get("type") == "file_search" for tool in attachment.get("tools") or []):
                    continue
                param = f"{prefix}attachments[{index}].file_id"
                file_id = attachment.get("file_id")
                if not file_id:
                    raise InvalidRequestError(
                        f"Invalid '{param}': an attachment for file_search needs a file_id.", param=param
                    )
                require_owned_file(self._files, owner, file_id, param=param)
                file_ids.append(file_id)
        return list(dict.fromkeys(file_ids))

    def attach_to_new_thread(self, owner: str, thread: Thread, file_ids: list[str]) -> None:
        """Before a new thread is written: its store holds ``file_ids``, ``thread.tool_resources`` name it."""
        if not file_ids:
            return
        store_id = self._usable_store(owner, store_ids_of(thread.tool_resources)) or thread_store_id(
            thread.id
        )
        self._fill_store(owner, store_id, file_ids)
        thread.tool_resources = with_store_id(thread.tool_resources, store_id)

    def attach_to_thread(self, owner: str, thread_id: str, file_ids: list[str], *, action: str) -> None:
        """Before messages are added to an existing thread (``action`` words a busy thread's 400)."""
        if not file_ids:
            return
        for _ in range(_SET_ATTEMPTS):
            thread = self._threads.get_thread(owner, thread_id)
            if thread.active_run_id is not None:
                raise ThreadBusyError(thread_id, thread.active_run_id, action=action)
            named = store_ids_of(thread.tool_resources)
            store_id = self._usable_store(owner, named) or thread_store_id(thread_id)
            self._fill_store(owner, store_id, file_ids)
            if named[:1] == [store_id]:
                return
            previous = thread.tool_resources
            thread.tool_resources = with_store_id(previous, store_id)
            if self._threads.set_tool_resources(thread, previous):
                return
        raise ConflictError("The thread's tool_resources changed while files were attached; please retry.")

    def _usable_store(self, owner: str, named: list[str]) -> str | None:
        """The store the thread names, when it still exists and is this tenant's."""
        if not named:
            return None
        store = self._stores.find_store(named[0])
        return store.id if store is not None and store.owner == owner else None

    def _fill_store(self, owner: str, store_id: str, file_ids: list[str]) -> None:
        store = self._stores.find_store(store_id)
        if store is None:
            now = self._clock.now()
            with suppress(ConflictError):  # a concurrent attempt of the same request created it
                self._stores.create_store(
                    VectorStore(
                        id=store_id,
                        owner=owner,
                        created_at=int(now),
                        expires_after_days=THREAD_STORE_EXPIRY_DAYS,
                        last_active_at=int(now),
                    )
                )
        elif store.owner != owner:  # derived ids are unique per thread; defensive only
            raise NotFoundError("vector store", store_id)
        for file_id in file_ids:
            self._store_files.attach(owner, store_id, file_id, chunking=ChunkingStrategy(), attributes={})


def searched_files(service: ThreadVectorStores | None, owner: str, messages: PreparedMessages) -> list[str]:
    """``service.searched_files``; a service built without vector stores (``None``) refuses such
    attachments."""
    if service is not None:
        return service.searched_files(owner, messages)
    for prefix, message in messages:
        for index, attachment in enumerate(message.attachments):
            if any(tool.get("type") == "file_search" for tool in attachment.get("tools") or []):
                param = f"{prefix}attachments[{index}]"
                raise InvalidRequestError(
                    f"Invalid '{param}': vector stores are not configured on this server.", param=param
                )
    return []
