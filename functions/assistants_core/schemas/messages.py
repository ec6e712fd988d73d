"""Message wire models (request content parts in, stored content parts out) and the mapping."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from assistants_core.domain.models import Message
from assistants_core.schemas.common import Metadata, RequestModel, WireModel

ImageDetail = Literal["auto", "low", "high"]
# Caps on every part of a message, not only its text (OpenAI documents none of these; each keeps a message
# and a list page of them readable): image URLs as long as browsers and CDNs accept (send large images as
# files), ids far longer than any real one, and part / attachment counts no client needs more of. With
# 256,000 characters of text the largest message is ~5 MB in a Lambda response, under its 6 MB.
MAX_IMAGE_URL_CHARS = 8_192
MAX_FILE_ID_CHARS = 256
MAX_CONTENT_PARTS = 32
MAX_ATTACHMENTS = 20


class TextPartInput(RequestModel):
    type: Literal["text"]
    text: str


class ImageFileReference(RequestModel):
    file_id: str = Field(min_length=1, max_length=MAX_FILE_ID_CHARS)
    detail: ImageDetail | None = None


class ImageFilePartInput(RequestModel):
    type: Literal["image_file"]
    image_file: ImageFileReference


class ImageUrlReference(RequestModel):
    url: str = Field(min_length=1, max_length=MAX_IMAGE_URL_CHARS)
    detail: ImageDetail | None = None


class ImageUrlPartInput(RequestModel):
    type: Literal["image_url"]
    image_url: ImageUrlReference


ContentPartInput = Annotated[
    TextPartInput | ImageFilePartInput | ImageUrlPartInput, Field(discriminator="type")
]
MessageContentInput = (
    str | Annotated[list[ContentPartInput], Field(min_length=1, max_length=MAX_CONTENT_PARTS)]
)


class AttachmentTool(RequestModel):
    type: Literal["code_interpreter", "file_search"]


class Attachment(RequestModel):
    file_id: str | None = Field(default=None, max_length=MAX_FILE_ID_CHARS)
    tools: list[AttachmentTool] | None = Field(default=None, max_length=2)


class CreateMessageRequest(RequestModel):
    role: Literal["user", "assistant"]
    content: MessageContentInput
    attachments: list[Attachment] | None = Field(default=None, max_length=MAX_ATTACHMENTS)
    metadata: Metadata | None = None


class ModifyMessageRequest(RequestModel):
    metadata: Metadata | None = None


def content_to_domain(content: MessageContentInput) -> list[dict[str, Any]]:
    """Request content (a string or input parts) as stored OpenAI message content parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPartInput):
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        elif isinstance(part, ImageFilePartInput):
            parts.append({"type": "image_file", "image_file": part.image_file.model_dump(exclude_none=True)})
        else:
            parts.append({"type": "image_url", "image_url": part.image_url.model_dump(exclude_none=True)})
    return parts


def attachments_to_domain(attachments: list[Attachment] | None) -> list[dict[str, Any]]:
    return [attachment.model_dump(exclude_none=True) for attachment in attachments or []]


class MessageObject(WireModel):
    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: Literal["in_progress", "incomplete", "completed"]
    incomplete_details: dict[str, Any] | None
    completed_at: int | None
    incomplete_at: int | None
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    assistant_id: str | None
    run_id: str | None
    attachments: list[dict[str, Any]]
    metadata: Metadata

    @classmethod
    def from_domain(cls, message: Message) -> MessageObject:
        return cls(
            id=message.id,
            created_at=message.created_at,
            thread_id=message.thread_id,
            status=message.status,  # type: ignore[arg-type]  # validated by pydantic
            incomplete_details=message.incomplete_details,
            completed_at=message.completed_at,
            incomplete_at=message.incomplete_at,
            role=message.role,  # type: ignore[arg-type]
            content=message.content,
            assistant_id=message.assistant_id,
            run_id=message.run_id,
            attachments=message.attachments,
            metadata=message.metadata,
        )


class MessageDeleted(WireModel):
    id: str
    object: Literal["thread.message.deleted"] = "thread.message.deleted"
    deleted: bool = True
