"""Thread use cases: create (with initial messages), retrieve, modify, delete."""

from __future__ import annotations

from assistants_core.domain import ids
from assistants_core.domain.models import Message, Thread
from assistants_core.ports import Clock, ThreadRepository
from assistants_core.schemas.common import ToolResources
from assistants_core.schemas.threads import CreateThreadRequest, ModifyThreadRequest
from assistants_core.services.messages import prepare_message
from assistants_core.services.thread_vector_stores import ThreadVectorStores, searched_files
from assistants_core.services.tool_resources import (
    ToolResourceService,
    check_tool_resources,
    merged_thread_resources,
    with_inline_store,
)
from assistants_core.services.tool_validation import ToolSupport
from assistants_core.services.validation import require_id, validate_metadata


def prepare_thread(
    owner: str,
    request: CreateThreadRequest,
    *,
    now: float,
    max_chars: int,
    param: str = "",
    tool_resources: ToolResources | None = None,
    support: ToolSupport | None = None,
    resources: ToolResourceService | None = None,
) -> tuple[Thread, list[Message]]:
    """A validated, not yet stored thread with its initial messages (in request order). Its
    ``tool_resources`` are the request's merged with ``tool_resources`` (thread-and-run's), checked, without
    the ``vector_stores`` helper: ``ready_thread_stores`` creates what they and the attachments need."""
    thread_id = ids.new_id(ids.THREAD, now_ms=int(now * 1000))
    metadata = validate_metadata(request.metadata, param=f"{param}metadata")
    messages = [
        prepare_message(
            owner,
            thread_id,
            message,
            now=now,
            max_chars=max_chars,
            param=f"{param}messages[{index}].",
            support=support,
        )
        for index, message in enumerate(request.messages)
    ]
    thread = Thread(
        id=thread_id,
        owner=owner,
        created_at=int(now),
        metadata=metadata,
        tool_resources=merged_thread_resources(
            resources, owner, request.tool_resources, tool_resources, param=f"{param}tool_resources"
        ),
    )
    return thread, messages


def thread_searched_files(
    stores: ThreadVectorStores | None, owner: str, messages: list[Message], *, param: str = ""
) -> list[str]:
    """The checked files a new thread's messages attach for file_search (writes nothing)."""
    return searched_files(
        stores, owner, [(f"{param}messages[{index}].", message) for index, message in enumerate(messages)]
    )


def ready_thread_stores(
    owner: str,
    thread: Thread,
    request: CreateThreadRequest,
    file_ids: list[str],
    *,
    resources: ToolResourceService | None,
    stores: ThreadVectorStores | None,
) -> None:
    """Writes, once the whole request is valid: the ``vector_stores`` helper's store, then the attached files
    in the thread's store; ``thread.tool_resources`` name the store."""
    thread.tool_resources = with_inline_store(
        resources, owner, request.tool_resources, thread.tool_resources, for_thread=True
    )
    if stores is not None:
        stores.attach_to_new_thread(owner, thread, file_ids)


class ThreadService:
    def __init__(
        self,
        threads: ThreadRepository,
        clock: Clock,
        *,
        max_message_chars: int,
        support: ToolSupport | None = None,
        resources: ToolResourceService | None = None,
        stores: ThreadVectorStores | None = None,
    ) -> None:
        self._threads = threads
        self._clock = clock
        self._max_message_chars = max_message_chars
        self._support = support
        self._resources = resources
        self._stores = stores

    def create(self, owner: str, request: CreateThreadRequest) -> Thread:
        thread, messages = prepare_thread(
            owner,
            request,
            now=self._clock.now(),
            max_chars=self._max_message_chars,
            support=self._support,
            resources=self._resources,
        )
        file_ids = thread_searched_files(self._stores, owner, messages)
        ready_thread_stores(owner, thread, request, file_ids, resources=self._resources, stores=self._stores)
        self._threads.create_thread(thread, messages)
        return thread

    def retrieve(self, owner: str, thread_id: str) -> Thread:
        require_id(thread_id, ids.THREAD, param="thread_id")
        return self._threads.get_thread(owner, thread_id)

    def modify(self, owner: str, thread_id: str, request: ModifyThreadRequest) -> Thread:
        require_id(thread_id, ids.THREAD, param="thread_id")
        changed = request.model_fields_set
        metadata = validate_metadata(request.metadata) if "metadata" in changed else None
        tool_resources = check_tool_resources(self._resources, owner, request.tool_resources)
        thread = self._threads.get_thread(owner, thread_id)
        if metadata is not None:
            thread.metadata = metadata
        if "tool_resources" in changed:
            thread.tool_resources = tool_resources
        self._threads.replace_thread_fields(thread)
        return thread

    def delete(self, owner: str, thread_id: str) -> None:
        """Removes the thread with its messages, runs, steps and S3 bodies."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        self._threads.delete_thread(owner, thread_id)
