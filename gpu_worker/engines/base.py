"""The engine interface the consumer generates with (vLLM in production, a scripted engine in tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class OutputConstraint:
    """Structured output: the reply must be one JSON value matching ``json_schema`` (None: any JSON object).
    vLLM enforces it while decoding; the scripted engine emits a conforming value."""

    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SamplingOptions:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    constraint: OutputConstraint | None = None


@dataclass(frozen=True, slots=True)
class GenerationChunk:
    """One streamed piece of a generation. Token counts are cumulative for the request so far."""

    text_delta: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason | None = None


class EngineError(Exception):
    """The engine failed to generate (the consumer reports a sanitized ``server_error``)."""


class Engine(Protocol):
    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of the prompt the chat template builds from ``messages`` (generation prompt included)."""

    def generate(
        self, request_id: str, messages: Sequence[ChatMessage], options: SamplingOptions
    ) -> AsyncIterator[GenerationChunk]:
        """Stream the reply; the last chunk carries a ``finish_reason``."""

    async def abort(self, request_id: str) -> None:
        """Stop generating ``request_id`` (no-op when it already finished)."""
