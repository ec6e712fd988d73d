"""A deterministic engine for tests: the reply is derived from the prompt, one word per token.

The reply echoes the last user message (``"You said: <text>"``), cycled to ``reply_tokens`` words when that
is set. ``token_delay_seconds`` paces the stream (so tests can cancel mid-generation or overlap runs),
``max_tokens`` is honoured with finish reason ``length``, ``chunk_chars`` re-cuts the stream into chunks of
that many characters (each counted as a token, so markers split across chunks), and a prompt containing
``failure_marker`` (or ``fail_after_tokens``) makes the generation raise ``EngineError``. It records what
tests assert on: the peak number of simultaneous generations, aborted request ids and every prompt it saw.

Tools and structured output, deterministically:
- a last user message holding ``[[call:NAME {"arg": ...}]]`` markers makes the reply one
  ``<tool_call>{"name": NAME, "arguments": {...}}</tool_call>`` block per marker (the ``hermes`` format),
  when the prompt offers NAME (the system message describes it); otherwise the markers are echoed as text;
  ``[[say:TEXT]]`` markers beside them make the model write TEXT before its calls;
- after tool outputs (the prompt ends with ``tool`` messages) the reply is ``"Tool said: <outputs>"``;
- an output constraint makes the reply a JSON value valid against its schema (``engines/json_instances``),
  or ``{"reply": "<echo>"}`` for a plain JSON object.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Sequence

from gpu_worker.engines.base import (
    ChatMessage,
    EngineError,
    FinishReason,
    GenerationChunk,
    OutputConstraint,
    SamplingOptions,
)
from gpu_worker.engines.json_instances import example_value

# Tokens the (ChatML-like) template adds around each message, and for the generation prompt.
TEMPLATE_TOKENS_PER_MESSAGE = 3
GENERATION_PROMPT_TOKENS = 2
DEFAULT_FAILURE_MARKER = "[[engine-failure]]"
CALL_MARKER = re.compile(r"\[\[call:([A-Za-z0-9_-]+)\s*(\{.*?\})?\]\]", re.DOTALL)
SAY_MARKER = re.compile(r"\[\[say:(.*?)\]\]", re.DOTALL)


def call_marker(name: str, arguments: dict[str, object] | None = None) -> str:
    """The text that makes the scripted engine call function ``name`` (when the prompt offers it)."""
    return f"[[call:{name} {json.dumps(arguments or {})}]]"


class ScriptedEngine:
    def __init__(
        self,
        *,
        token_delay_seconds: float = 0.0,
        reply_tokens: int | None = None,
        failure_marker: str = DEFAULT_FAILURE_MARKER,
        fail_after_tokens: int | None = None,
        chunk_chars: int | None = None,
    ) -> None:
        self.chunk_chars = chunk_chars
        self.token_delay_seconds = token_delay_seconds
        self.reply_tokens = reply_tokens
        self.failure_marker = failure_marker
        self.fail_after_tokens = fail_after_tokens
        self.active_requests: set[str] = set()
        self.max_concurrent_requests = 0
        self.aborted_requests: list[str] = []
        self.prompts: dict[str, list[ChatMessage]] = {}
        self._abort_events: dict[str, asyncio.Event] = {}

    @staticmethod
    def count_text_tokens(text: str) -> int:
        return len(text.split())

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return GENERATION_PROMPT_TOKENS + sum(
            TEMPLATE_TOKENS_PER_MESSAGE + self.count_text_tokens(message.content) for message in messages
        )

    def reply_words(
        self, messages: Sequence[ChatMessage], constraint: OutputConstraint | None = None
    ) -> list[str]:
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        if constraint is not None:
            value = example_value(constraint.json_schema, last_user) if constraint.json_schema else None
            return json.dumps(value if value is not None else {"reply": last_user}).split(" ")
        trailing_outputs = list(itertools.takewhile(lambda m: m.role == "tool", reversed(messages)))
        if trailing_outputs:
            return ["Tool", "said:", *" ".join(m.content for m in reversed(trailing_outputs)).split()]
        calls = self._offered_calls(messages, last_user) if messages and messages[-1].role == "user" else []
        if calls:
            said = " ".join(SAY_MARKER.findall(last_user))
            return ((said + "\n" if said else "") + "\n".join(calls)).split(" ")
        words = ["You", "said:", *last_user.split()]
        if self.reply_tokens is None:
            return words
        return list(itertools.islice(itertools.cycle(words), self.reply_tokens))

    @staticmethod
    def _offered_calls(messages: Sequence[ChatMessage], text: str) -> list[str]:
        system = next((m.content for m in messages if m.role == "system"), "")
        return [
            "<tool_call>"
            + json.dumps({"name": name, "arguments": json.loads(arguments or "{}")})
            + "</tool_call>"
            for name, arguments in CALL_MARKER.findall(text)
            if f'"name": "{name}"' in system
        ]

    async def generate(
        self, request_id: str, messages: Sequence[ChatMessage], options: SamplingOptions
    ) -> AsyncIterator[GenerationChunk]:
        self.prompts[request_id] = list(messages)
        prompt_tokens = self.count_prompt_tokens(messages)
        words = self.reply_words(messages, options.constraint)
        pieces = [word if index == 0 else " " + word for index, word in enumerate(words)]
        if self.chunk_chars:
            text = "".join(pieces)
            size = self.chunk_chars
            pieces = [text[start : start + size] for start in range(0, len(text), size)]
        must_fail = any(self.failure_marker in message.content for message in messages)
        abort_event = self._abort_events.setdefault(request_id, asyncio.Event())
        self.active_requests.add(request_id)
        self.max_concurrent_requests = max(self.max_concurrent_requests, len(self.active_requests))
        try:
            for index, piece in enumerate(pieces[: options.max_tokens]):
                if must_fail or (self.fail_after_tokens is not None and index >= self.fail_after_tokens):
                    raise EngineError(f"scripted failure of {request_id} at token {index}")
                await asyncio.sleep(self.token_delay_seconds)
                if abort_event.is_set():
                    return
                produced = index + 1
                finish: FinishReason | None = None
                if produced == len(pieces):
                    finish = "stop"
                elif produced == options.max_tokens:
                    finish = "length"
                yield GenerationChunk(
                    text_delta=piece,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=produced,
                    finish_reason=finish,
                )
            if not pieces or options.max_tokens <= 0:
                yield GenerationChunk("", prompt_tokens, 0, "length" if pieces else "stop")
        finally:
            self.active_requests.discard(request_id)
            self._abort_events.pop(request_id, None)

    async def abort(self, request_id: str) -> None:
        self.aborted_requests.append(request_id)
        event = self._abort_events.get(request_id)
        if event is not None:
            event.set()
