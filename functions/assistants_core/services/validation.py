"""Request rules that the wire models cannot express. Every failure is an ``InvalidRequestError`` naming the
offending ``param``; services call these before writing anything."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError, NotFoundError
from assistants_core.domain.models import PageRequest
from assistants_core.domain.vector_stores import VECTOR_STORE

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_PAGE_LIMIT = 100
# A list cursor is an object id: ids are short and use only these characters (DynamoDB also caps a sort key
# at 1024 bytes). Anything else names no object, so it is a 400 rather than a query.
MAX_CURSOR_CHARS = 128
_CURSOR_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
# OpenAI's CreateRunRequest: ``max_prompt_tokens`` and ``max_completion_tokens`` have ``minimum: 256``.
MIN_RUN_TOKEN_LIMIT = 256

# DynamoDB holds at most 400 KB (409,600 bytes) per item, counted as the UTF-8 bytes of attribute names and
# values. An assistant's text and metadata are plain strings in its item (UTF-8), its tools and formats JSON
# with non-ASCII characters escaped ("\u20ac" is 6 bytes, an emoji 12); a run's fields are measured all
# escaped, as the whole run is stored in each of its event-log items. The sum must leave room for the
# object's fixed fields, its status, errors and required action.
MAX_STORED_FIELDS_BYTES = 320 * 1024

_KIND_BY_PREFIX = {
    ids.ASSISTANT: "assistant",
    ids.THREAD: "thread",
    ids.MESSAGE: "message",
    ids.RUN: "run",
    ids.STEP: "run step",
    VECTOR_STORE: "vector store",
}


def _looks_like_id(value: str) -> bool:
    return len(value) <= MAX_CURSOR_CHARS and _CURSOR_PATTERN.fullmatch(value) is not None


def require_id(object_id: str, prefix: str, *, param: str | None = None) -> str:
    """An id without the right prefix, or not shaped like an id (too long for a DynamoDB key, odd
    characters), can name nothing: 404 without touching storage."""
    if not ids.has_prefix(object_id, prefix) or not _looks_like_id(object_id):
        raise NotFoundError(_KIND_BY_PREFIX[prefix], object_id, param=param)
    return object_id


def validate_metadata(metadata: Mapping[str, Any] | None, *, param: str = "metadata") -> dict[str, str]:
    if metadata is None:
        return {}
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidRequestError(
            f"Invalid '{param}': too many properties. Expected an object with at most {MAX_METADATA_KEYS} "
            f"properties, but got an object with {len(metadata)} properties instead.",
            param=param,
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequestError(
                f"Invalid '{param}': keys and values must be strings.", param=f"{param}.{key}"
            )
        if not key:
            raise InvalidRequestError(f"Invalid '{param}': keys must be non-empty strings.", param=param)
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise InvalidRequestError(
                f"Invalid '{param}': key '{key[:20]}...' is too long. Expected a key with at most "
                f"{MAX_METADATA_KEY_CHARS} characters, but got {len(key)} characters instead.",
                param=param,
            )
        if len(value) > MAX_METADATA_VALUE_CHARS:
            raise InvalidRequestError(
                f"Invalid '{param}.{key}': string too long. Expected a string with maximum length "
                f"{MAX_METADATA_VALUE_CHARS}, but got a string with length {len(value)} instead.",
                param=f"{param}.{key}",
            )
    return dict(metadata)


def page_request(limit: int, order: str, after: str | None, before: str | None) -> PageRequest:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidRequestError(
            f"Invalid 'limit': integer out of range. Expected a value between 1 and {MAX_PAGE_LIMIT}, "
            f"but got {limit} instead.",
            param="limit",
        )
    if order not in ("asc", "desc"):
        raise InvalidRequestError(
            f"Invalid value for 'order': expected one of 'asc' or 'desc', but got '{order}' instead.",
            param="order",
        )
    for param, cursor in (("after", after), ("before", before)):
        if cursor and not _looks_like_id(cursor):
            raise InvalidRequestError(
                f"Invalid '{param}': expected an object id (at most {MAX_CURSOR_CHARS} letters, digits, "
                "'_' or '-').",
                param=param,
            )
    return PageRequest(limit=limit, order=order, after=after or None, before=before or None)


def validate_range(value: float | None, *, param: str, minimum: float, maximum: float | None = None) -> None:
    if value is None:
        return
    if value < minimum:
        raise InvalidRequestError(
            f"Invalid '{param}': value below minimum. Expected a value >= {minimum:g}, but got {value:g} "
            "instead.",
            param=param,
        )
    if maximum is not None and value > maximum:
        raise InvalidRequestError(
            f"Invalid '{param}': value above maximum. Expected a value <= {maximum:g}, but got {value:g} "
            "instead.",
            param=param,
        )


def validate_sampling(temperature: float | None, top_p: float | None, *, prefix: str = "") -> None:
    validate_range(temperature, param=f"{prefix}temperature", minimum=0, maximum=2)
    validate_range(top_p, param=f"{prefix}top_p", minimum=0, maximum=1)


def validate_run_token_limits(max_prompt_tokens: int | None, max_completion_tokens: int | None) -> None:
    validate_range(max_prompt_tokens, param="max_prompt_tokens", minimum=MIN_RUN_TOKEN_LIMIT)
    validate_range(max_completion_tokens, param="max_completion_tokens", minimum=MIN_RUN_TOKEN_LIMIT)


def validate_content_size(content: list[dict[str, Any]], *, max_chars: int, param: str) -> None:
    """The text of one message may hold at most ``max_chars`` characters (OpenAI allows 256,000)."""
    total = sum(len(part["text"]["value"]) for part in content if part.get("type") == "text")
    if total > max_chars:
        raise InvalidRequestError(
            f"Invalid '{param}': string too long. Expected a string with maximum length {max_chars}, but got "
            f"a string with length {total} instead.",
            param=param,
        )


def stored_size_bytes(value: Any, *, escaped: bool = True) -> int:
    """Bytes of ``value`` as stored: JSON with non-ASCII escaped (nested fields, run events), or as a plain
    DynamoDB string / string map (UTF-8) when not ``escaped``."""
    if not escaped and isinstance(value, str):
        return len(value.encode("utf-8"))
    if not escaped and isinstance(value, Mapping):
        return sum(
            stored_size_bytes(key, escaped=False) + stored_size_bytes(inner, escaped=False)
            for key, inner in value.items()
        )
    return len(json.dumps(value, separators=(",", ":")))


def validate_stored_size(
    obj: object, field_names: Iterable[str], *, plain_fields: Iterable[str] = (), param_prefix: str = ""
) -> None:
    """The object's free-form fields fit one DynamoDB item with room to spare, else a 400 naming the
    largest field (nothing is stored). ``plain_fields`` are stored as plain strings / string maps (UTF-8
    bytes); the others as escaped JSON."""
    plain = frozenset(plain_fields)
    sizes = {
        name: len(name) + stored_size_bytes(value, escaped=name not in plain)
        for name in field_names
        if (value := getattr(obj, name)) is not None
    }
    total = sum(sizes.values())
    if total <= MAX_STORED_FIELDS_BYTES:
        return
    largest = max(sizes, key=lambda name: sizes[name])
    raise InvalidRequestError(
        f"Invalid '{param_prefix}{largest}': the object is too large to store. Its text fields take {total} "
        f"bytes (UTF-8, and non-ASCII escaped where stored as JSON), of which '{largest}' takes "
        f"{sizes[largest]}; the limit is {MAX_STORED_FIELDS_BYTES} bytes.",
        param=f"{param_prefix}{largest}",
        code="string_above_max_length",
    )
