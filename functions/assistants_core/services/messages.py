"""Message use cases: create, retrieve, modify (metadata), delete, list (optionally by ``run_id``)."""

from __future__ import annotations

from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.models import Message, Page
from assistants_core.ports import Clock, MessageRepository
from assistants_core.schemas.messages import (
    CreateMessageRequest,
    ModifyMessageRequest,
    attachments_to_domain,
    content_to_domain,
)
from assistants_core.services.thread_vector_stores import ThreadVectorStores, searched_files
from assistants_core.services.tool_validation import ToolSupport, validate_attachment_tools
from assistants_core.services.validation import (
    page_request,
    require_id,
    validate_content_size,
    validate_metadata,
)

IMAGE_PART_TYPES = frozenset({"image_file", "image_url"})


def reject_image_parts(content: list[dict[str, Any]], *, param: str) -> None:
    """No served model reads images: an image part is a 400 naming it, never a part the model cannot see."""
    for index, part in enumerate(content):
        if part.get("type") in IMAGE_PART_TYPES:
            raise InvalidRequestError(
                f"Invalid '{param}[{index}]': '{part['type']}' content needs a vision-capable model, and no "
                "model served here reads images. Send the message as text.",
                param=f"{param}[{index}]",
                code="unsupported_content",
            )


def prepare_message(
    owner: str,
    thread_id: str,
    request: CreateMessageRequest,
    *,
    now: float,
    max_chars: int,
    param: str = "",
    support: ToolSupport | None = None,
) -> Message:
    """A validated, not yet stored message. ``param`` prefixes error params (e.g. ``messages[0].``)."""
    content = content_to_domain(request.content)
    reject_image_parts(content, param=f"{param}content")
    validate_content_size(content, max_chars=max_chars, param=f"{param}content")
    metadata = validate_metadata(request.metadata, param=f"{param}metadata")
    attachments = attachments_to_domain(request.attachments)
    validate_attachment_tools(attachments, prefix=param, support=support)
    return Message(
        id=ids.new_id(ids.MESSAGE, now_ms=int(now * 1000)),
        owner=owner,
        thread_id=thread_id,
        created_at=int(now),
        role=request.role,
        content=content,
        attachments=attachments,
        metadata=metadata,
        status="completed",
        completed_at=int(now),
    )


class MessageService:
    def __init__(
        self,
        messages: MessageRepository,
        clock: Clock,
        *,
        max_message_chars: int,
        support: ToolSupport | None = None,
        stores: ThreadVectorStores | None = None,
    ) -> None:
        self._messages = messages
        self._clock = clock
        self._max_message_chars = max_message_chars
        self._support = support
        self._stores = stores

    def create(self, owner: str, thread_id: str, request: CreateMessageRequest) -> Message:
        """One conditional put: the thread must exist for ``owner`` and have no active run (else 400).
        Files attached for file_search go into the thread's vector store first (``thread_vector_stores``)."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        message = prepare_message(
            owner,
            thread_id,
            request,
            now=self._clock.now(),
            max_chars=self._max_message_chars,
            support=self._support,
        )
        file_ids = searched_files(self._stores, owner, [("", message)])
        if file_ids and self._stores is not None:
            self._stores.attach_to_thread(owner, thread_id, file_ids, action="add messages to")
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
