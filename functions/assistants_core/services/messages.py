"""Message use cases: create, retrieve, modify (metadata), delete, list (optionally by ``run_id``)."""

from __future__ import annotations

from assistants_core.domain import ids
from assistants_core.domain.models import Message, Page
from assistants_core.ports import Clock, MessageRepository
from assistants_core.schemas.messages import (
    CreateMessageRequest,
    ModifyMessageRequest,
    attachments_to_domain,
    content_to_domain,
)
from assistants_core.services.validation import (
    page_request,
    require_id,
    validate_content_size,
    validate_metadata,
)


def prepare_message(
    owner: str, thread_id: str, request: CreateMessageRequest, *, now: float, max_chars: int, param: str = ""
) -> Message:
    """A validated, not yet stored message. ``param`` prefixes error params (e.g. ``messages[0].``)."""
    content = content_to_domain(request.content)
    validate_content_size(content, max_chars=max_chars, param=f"{param}content")
    metadata = validate_metadata(request.metadata, param=f"{param}metadata")
    return Message(
        id=ids.new_id(ids.MESSAGE, now_ms=int(now * 1000)),
        owner=owner,
        thread_id=thread_id,
        created_at=int(now),
        role=request.role,
        content=content,
        attachments=attachments_to_domain(request.attachments),
        metadata=metadata,
        status="completed",
        completed_at=int(now),
    )


class MessageService:
    def __init__(self, messages: MessageRepository, clock: Clock, *, max_message_chars: int) -> None:
        self._messages = messages
        self._clock = clock
        self._max_message_chars = max_message_chars

    def create(self, owner: str, thread_id: str, request: CreateMessageRequest) -> Message:
        """One conditional put: the thread must exist for ``owner`` and have no active run (else 400)."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        message = prepare_message(
            owner, thread_id, request, now=self._clock.now(), max_chars=self._max_message_chars
        )
        self._messages.add_message(message)
        return message

    def retrieve(self, owner: str, thread_id: str, message_id: str) -> Message:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(message_id, ids.MESSAGE, param="message_id")
        return self._messages.get_message(owner, thread_id, message_id)

    def modify(self, owner: str, thread_id: str, message_id: str, request: ModifyMessageRequest) -> Message:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(message_id, ids.MESSAGE, param="message_id")
        metadata = validate_metadata(request.metadata)
        message = self._messages.get_message(owner, thread_id, message_id)
        message.metadata = metadata
        self._messages.replace_message_metadata(message)
        return message

    def delete(self, owner: str, thread_id: str, message_id: str) -> None:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(message_id, ids.MESSAGE, param="message_id")
        self._messages.delete_message(owner, thread_id, message_id)

    def list(
        self,
        owner: str,
        thread_id: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
        run_id: str | None = None,
    ) -> Page[Message]:
        require_id(thread_id, ids.THREAD, param="thread_id")
        page = page_request(limit, order, after, before)
        # The repository answers 404 for an unknown or foreign thread.
        return self._messages.list_messages(owner, thread_id, page, run_id=run_id or None)
