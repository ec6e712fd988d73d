"""Request rules of vector stores that the wire models cannot express (chunking, attributes, expiry)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain import vector_stores as rules
from assistants_core.domain.errors import InvalidRequestError, NotFoundError
from assistants_core.domain.vector_stores import Attributes, ChunkingStrategy
from assistants_core.schemas.vector_stores import (
    AutoChunkingStrategyParam,
    ChunkingStrategyParam,
    ExpiresAfter,
)


def require_store_id(vector_store_id: str) -> str:
    if not ids.has_prefix(vector_store_id, rules.VECTOR_STORE):
        raise NotFoundError("vector store", vector_store_id, param="vector_store_id")
    return vector_store_id


def require_batch_id(batch_id: str) -> str:
    if not ids.has_prefix(batch_id, rules.FILE_BATCH):
        raise NotFoundError("vector store file batch", batch_id, param="batch_id")
    return batch_id


def chunking_of(param: ChunkingStrategyParam | None, *, name: str = "chunking_strategy") -> ChunkingStrategy:
    if param is None or isinstance(param, AutoChunkingStrategyParam):
        return ChunkingStrategy()
    size = param.static.max_chunk_size_tokens
    overlap = param.static.chunk_overlap_tokens
    if not rules.MIN_CHUNK_SIZE_TOKENS <= size <= rules.MAX_CHUNK_SIZE_TOKENS:
        raise InvalidRequestError(
            f"Invalid '{name}.static.max_chunk_size_tokens': expected a value between "
            f"{rules.MIN_CHUNK_SIZE_TOKENS} and {rules.MAX_CHUNK_SIZE_TOKENS}, but got {size} instead.",
            param=f"{name}.static.max_chunk_size_tokens",
        )
    if not 0 <= overlap <= size // 2:
        raise InvalidRequestError(
            f"Invalid '{name}.static.chunk_overlap_tokens': must be between 0 and half of "
            f"max_chunk_size_tokens ({size // 2}), but got {overlap} instead.",
            param=f"{name}.static.chunk_overlap_tokens",
        )
    return ChunkingStrategy(max_chunk_size_tokens=size, chunk_overlap_tokens=overlap)


def expiry_days_of(expires_after: ExpiresAfter | None) -> int | None:
    if expires_after is None:
        return None
    if not 1 <= expires_after.days <= 365:
        raise InvalidRequestError(
            f"Invalid 'expires_after.days': expected a value between 1 and 365, but got "
            f"{expires_after.days} instead.",
            param="expires_after.days",
        )
    return expires_after.days


def validate_attributes(attributes: Mapping[str, Any] | None, *, param: str = "attributes") -> Attributes:
    if attributes is None:
        return {}
    if len(attributes) > rules.MAX_ATTRIBUTES:
        raise InvalidRequestError(
            f"Invalid '{param}': too many properties. Expected at most {rules.MAX_ATTRIBUTES}, but got "
            f"{len(attributes)}.",
            param=param,
        )
    checked: Attributes = {}
    for key, value in attributes.items():
        if len(key) > rules.MAX_ATTRIBUTE_KEY_CHARS:
            raise InvalidRequestError(
                f"Invalid '{param}': key '{key[:20]}...' is longer than {rules.MAX_ATTRIBUTE_KEY_CHARS} "
                "characters.",
                param=param,
            )
        if isinstance(value, str) and len(value) > rules.MAX_ATTRIBUTE_VALUE_CHARS:
            raise InvalidRequestError(
                f"Invalid '{param}.{key}': string longer than {rules.MAX_ATTRIBUTE_VALUE_CHARS} characters.",
                param=f"{param}.{key}",
            )
        if not isinstance(value, str | int | float | bool):
            raise InvalidRequestError(
                f"Invalid '{param}.{key}': expected a string, number or boolean.", param=f"{param}.{key}"
            )
        checked[key] = value
    return checked
