"""Thread use cases: create (with initial messages), retrieve, modify, delete."""

from __future__ import annotations

from assistants_core.domain import ids
from assistants_core.domain.models import Message, Thread
from assistants_core.ports import Clock, ThreadRepository
from assistants_core.schemas.common import ToolResources, tool_resources_to_domain
from assistants_core.schemas.threads import CreateThreadRequest, ModifyThreadRequest
from assistants_core.services.messages import prepare_message
from assistants_core.services.validation import require_id, validate_metadata


def prepare_thread(
    owner: str,
    request: CreateThreadRequest,
    *,
    now: float,
    max_chars: int,
    param: str = "",
    tool_resources: ToolResources | None = None,
) -> tuple[Thread, list[Message]]:
    """A validated, not yet stored thread with its initial messages (in request order)."""
    thread_id = ids.new_id(ids.THREAD, now_ms=int(now * 1000))
    metadata = validate_metadata(request.metadata, param=f"{param}metadata")
    messages = [
        prepare_message(
            owner, thread_id, message, now=now, max_chars=max_chars, param=f"{param}messages[{index}]."
        )
        for index, message in enumerate(request.messages)
    ]
    thread = Thread(
        id=thread_id,
        owner=owner,
        created_at=int(now),
        metadata=metadata,
        tool_resources=tool_resources_to_domain(request.tool_resources or tool_resources),
    )
    return thread, messages


class ThreadService:
    def __init__(self, threads: ThreadRepository, clock: Clock, *, max_message_chars: int) -> None:
        self._threads = threads
        self._clock = clock
        self._max_message_chars = max_message_chars

    def create(self, owner: str, request: CreateThreadRequest) -> Thread:
        thread, messages = prepare_thread(
            owner, request, now=self._clock.now(), max_chars=self._max_message_chars
        )
        self._threads.create_thread(thread, messages)
        return thread

    def retrieve(self, owner: str, thread_id: str) -> Thread:
        require_id(thread_id, ids.THREAD, param="thread_id")
        return self._threads.get_thread(owner, thread_id)

    def modify(self, owner: str, thread_id: str, request: ModifyThreadRequest) -> Thread:
        require_id(thread_id, ids.THREAD, param="thread_id")
        changed = request.model_fields_set
        metadata = validate_metadata(request.metadata) if "metadata" in changed else None
        thread = self._threads.get_thread(owner, thread_id)
        if metadata is not None:
            thread.metadata = metadata
        if "tool_resources" in changed:
            thread.tool_resources = tool_resources_to_domain(request.tool_resources)
        self._threads.replace_thread_fields(thread)
        return thread

    def delete(self, owner: str, thread_id: str) -> None:
        """Removes the thread with its messages, runs, steps and S3 bodies."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        self._threads.delete_thread(owner, thread_id)
