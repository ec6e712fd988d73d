"""Builds the chat a run is generated from: instructions, then the thread's messages oldest first.

Honours the run's ``truncation_strategy`` (``last_messages``) and ``max_prompt_tokens``: the oldest thread
messages are dropped until the templated prompt fits. When even the newest message alone does not fit, the
run ends ``incomplete`` with reason ``max_prompt_tokens`` (``PromptTooLongError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistants_core.domain.models import JSONDict, Message, Run
from gpu_worker.engines.base import ChatMessage

TokenCounter = Callable[[Sequence[ChatMessage]], int]

CHAT_ROLES = frozenset({"user", "assistant"})


class PromptTooLongError(Exception):
    """Even the newest message does not fit in the prompt token budget."""

    def __init__(self, prompt_tokens: int, budget: int) -> None:
        super().__init__(f"prompt needs {prompt_tokens} tokens, budget is {budget}")
        self.prompt_tokens = prompt_tokens
        self.budget = budget


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: list[ChatMessage]
    prompt_tokens: int
    dropped_messages: int


def system_text(run: Run, tools_text: str | None = None) -> str | None:
    parts = [text for text in (run.instructions, run.additional_instructions, tools_text) if text]
    return "\n\n".join(parts) if parts else None


def describe_part(part: JSONDict) -> str:
    """What the model sees of one content part: text verbatim, anything else as a short summary."""
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", {}).get("value", ""))
    if kind == "image_file":
        return f"[image file {part.get('image_file', {}).get('file_id', 'unknown')}]"
    if kind == "image_url":
        return f"[image {part.get('image_url', {}).get('url', 'unknown')}]"
    if kind == "refusal":
        return str(part.get("refusal", ""))
    return f"[{kind} content]"


def to_chat_message(message: Message) -> ChatMessage:
    role = message.role if message.role in CHAT_ROLES else "user"
    return ChatMessage(role=role, content="".join(describe_part(part) for part in message.content))


def apply_truncation_strategy(run: Run, conversation: list[ChatMessage]) -> list[ChatMessage]:
    strategy = run.truncation_strategy or {}
    last_messages = strategy.get("last_messages")
    if strategy.get("type") == "last_messages" and last_messages is not None:
        return conversation[-int(last_messages) :] if int(last_messages) > 0 else []
    return conversation


def build_prompt(
    run: Run,
    thread_messages: Sequence[Message],
    count_tokens: TokenCounter,
    *,
    context_token_limit: int | None = None,
    tools_text: str | None = None,
    tail: Sequence[ChatMessage] = (),
) -> Prompt:
    """The prompt for ``run``; ``context_token_limit`` additionally caps it to what the model can take.
    ``tools_text`` (the offered functions) joins the system message; ``tail`` (this run's earlier tool calls
    and their outputs) follows the thread's messages and is never dropped."""
    system = system_text(run, tools_text)
    head = [ChatMessage("system", system)] if system else []
    kept = list(tail)
    conversation = apply_truncation_strategy(run, [to_chat_message(m) for m in thread_messages])
    limits = [limit for limit in (run.max_prompt_tokens, context_token_limit) if limit is not None]
    if not limits:
        messages = head + conversation + kept
        return Prompt(messages, count_tokens(messages), len(thread_messages) - len(conversation))

    budget = min(limits)
    full = head + conversation + kept
    full_tokens = count_tokens(full)
    if full_tokens <= budget:
        return Prompt(full, full_tokens, len(thread_messages) - len(conversation))
    # Fewer kept messages never need more tokens, so binary-search the first message to keep
    # (log2(n) template renderings instead of one per dropped message).
    newest_only = head + conversation[-1:] + kept
    newest_tokens = count_tokens(newest_only)
    if newest_tokens > budget:
        raise PromptTooLongError(newest_tokens, budget)
    fits_from, overflows_from = (
        len(conversation) - 1,
        0,
    )  # conversation[fits_from:] fits; [overflows_from:] not
    best = (newest_only, newest_tokens)
    while fits_from - overflows_from > 1:
        middle = (fits_from + overflows_from) // 2
        candidate = head + conversation[middle:] + kept
        tokens = count_tokens(candidate)
        if tokens <= budget:
            fits_from, best = middle, (candidate, tokens)
        else:
            overflows_from = middle
    messages, tokens = best
    return Prompt(messages, tokens, len(thread_messages) - (len(messages) - len(head) - len(kept)))
