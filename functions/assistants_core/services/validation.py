"""Request rules that the wire models cannot express. Every failure is an ``InvalidRequestError`` naming the
offending ``param``; services call these before writing anything."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError, NotFoundError
from assistants_core.domain.models import PageRequest

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_PAGE_LIMIT = 100
# OpenAI's CreateRunRequest: ``max_prompt_tokens`` and ``max_completion_tokens`` have ``minimum: 256``.
MIN_RUN_TOKEN_LIMIT = 256

_KIND_BY_PREFIX = {
    ids.ASSISTANT: "assistant",
    ids.THREAD: "thread",
    ids.MESSAGE: "message",
    ids.RUN: "run",
    ids.STEP: "run step",
}


def require_id(object_id: str, prefix: str, *, param: str | None = None) -> str:
    """An id without the right prefix can name nothing: 404 without touching storage."""
    if not ids.has_prefix(object_id, prefix):
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
