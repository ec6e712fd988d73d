"""Wire models shared by every resource: request base, list envelope, error envelope, tool resources."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from assistants_core.domain.models import Page

Metadata = dict[str, str]
DomainT = TypeVar("DomainT")
WireT = TypeVar("WireT", bound=BaseModel)


# What every stored request value must satisfy, so that a write that succeeds can always be read back, as
# JSON and from DynamoDB: nesting depth (DynamoDB nests documents at most 32 levels), numbers that a DynamoDB
# Number holds (38 significant digits, magnitude 1e-130 .. 1e126; no NaN/Infinity, which JSON lacks too)
# and strings that UTF-8 can encode (no lone surrogates such as "\udfff").
MAX_JSON_DEPTH = 32
MAX_NUMBER_MAGNITUDE = 10**38
_MIN_NONZERO_MAGNITUDE = 1e-130
_MAX_FLOAT_MAGNITUDE = 1e126
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _unstorable(value: Any, depth: int) -> str | None:
    """Why ``value`` (a parsed JSON value) cannot be stored and read back, or None when it can."""
    if isinstance(value, BaseModel):
        return None  # nested request models check their own fields
    if isinstance(value, str):
        return "lone surrogate characters are not valid Unicode" if _LONE_SURROGATE.search(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) < MAX_NUMBER_MAGNITUDE else "integers may have at most 38 digits"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN and Infinity are not valid JSON numbers"
        magnitude = abs(value)
        if magnitude and not _MIN_NONZERO_MAGNITUDE <= magnitude < _MAX_FLOAT_MAGNITUDE:
            return "numbers must be 0 or between 1e-130 and 1e126 in magnitude"
        return None
    if isinstance(value, dict | list | tuple):
        if depth >= MAX_JSON_DEPTH:
            return f"objects and arrays may be nested at most {MAX_JSON_DEPTH} levels deep"
        children = list(value.items()) if isinstance(value, dict) else [(None, item) for item in value]
        for key, child in children:
            problem = _unstorable(key, depth + 1) if key is not None else None
            problem = problem or _unstorable(child, depth + 1)
            if problem:
                return problem
    return None


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are rejected, as OpenAI does, and every value must be one
    that can be stored and read back (``_unstorable``): a 400 at write time, never a stored poison."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = _unstorable(value, 0)
        if problem:
            raise PydanticCustomError("unstorable_value", problem)
        return value


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


# Lambda answers at most 6 MB (the whole proxy response, where the body is a JSON string again: quotes and
# non-ASCII characters escaped). A list page stops early (``has_more``) once its items would pass this.
LIST_RESPONSE_BUDGET_BYTES = 5 * 1024 * 1024


def wire_size_bytes(item: BaseModel) -> int:
    """Bytes of ``item`` inside a Lambda proxy response: its JSON, escaped again as a JSON string."""
    return len(json.dumps(item.model_dump_json()))


def list_response(
    page: Page[DomainT],
    to_wire: Callable[[DomainT], WireT],
    id_of: Callable[[WireT], str],
    *,
    budget_bytes: int | None = None,
    toward_before: bool = False,
) -> ListResponse[WireT]:
    """The OpenAI list envelope of one page: ``first_id``/``last_id`` are the page's ends, in page order.

    The page ends early, with ``has_more``, where the next item would take the response past
    ``budget_bytes`` (default ``LIST_RESPONSE_BUDGET_BYTES``; it always holds at least one item); the
    client's next page (``after=last_id``) starts with the first item left out. A page read backwards from a
    ``before`` cursor (``toward_before``) keeps the items nearest the cursor instead, and the next page
    (``before=first_id``) holds the ones left out."""
    budget = LIST_RESPONSE_BUDGET_BYTES if budget_bytes is None else budget_bytes
    data: list[WireT] = []
    used = 0
    truncated = False
    for item in reversed(page.data) if toward_before else page.data:
        wire = to_wire(item)
        used += wire_size_bytes(wire)
        if data and used > budget:
            truncated = True
            break
        data.append(wire)
    if toward_before:
        data.reverse()
    return ListResponse[WireT](
        data=data,
        first_id=id_of(data[0]) if data else None,
        last_id=id_of(data[-1]) if data else None,
        has_more=page.has_more or truncated,
    )


class ErrorDetail(WireModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(WireModel):
    error: ErrorDetail
