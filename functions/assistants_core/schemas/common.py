"""Wire models shared by every resource: request base, list envelope, error envelope, tool resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from assistants_core.domain.models import Page

Metadata = dict[str, str]
DomainT = TypeVar("DomainT")
WireT = TypeVar("WireT", bound=BaseModel)


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are rejected, as OpenAI does."""

    model_config = ConfigDict(extra="forbid")


class WireModel(BaseModel):
    """Base of every response body."""

    model_config = ConfigDict(extra="forbid")


def _is_none(value: Any) -> bool:
    return value is None


def omitted_when_none(**constraints: Any) -> Any:
    """An optional field left out of responses when unset: OpenAI's schemas define these as optional, not
    nullable (``description: null`` is not a string)."""
    return Field(default=None, exclude_if=_is_none, **constraints)


class CodeInterpreterResources(RequestModel):
    file_ids: list[str] = Field(default_factory=list, max_length=20)


class FileSearchResources(RequestModel):
    vector_store_ids: list[str] = Field(default_factory=list, max_length=1)


class ToolResources(RequestModel):
    code_interpreter: CodeInterpreterResources | None = omitted_when_none()
    file_search: FileSearchResources | None = omitted_when_none()


def tool_resources_to_domain(resources: ToolResources | None) -> dict[str, Any] | None:
    return None if resources is None else resources.model_dump(exclude_none=True)


class ListResponse(WireModel, Generic[WireT]):
    object: Literal["list"] = "list"
    data: list[WireT]
    first_id: str | None
    last_id: str | None
    has_more: bool


def list_response(
    page: Page[DomainT], to_wire: Callable[[DomainT], WireT], id_of: Callable[[WireT], str]
) -> ListResponse[WireT]:
    """The OpenAI list envelope of one page: ``first_id``/``last_id`` are the page's ends, in page order."""
    data = [to_wire(item) for item in page.data]
    return ListResponse[WireT](
        data=data,
        first_id=id_of(data[0]) if data else None,
        last_id=id_of(data[-1]) if data else None,
        has_more=page.has_more,
    )


class ErrorDetail(WireModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(WireModel):
    error: ErrorDetail
