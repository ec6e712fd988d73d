"""Builds the chat a run is generated from: instructions, then the thread's messages oldest first.

Honours the run's ``truncation_strategy`` (``last_messages``) and ``max_prompt_tokens``: the oldest thread
messages are dropped until the templated prompt fits. When even the newest message alone does not fit, the
run ends ``incomplete`` with reason ``max_prompt_tokens`` (``PromptTooLongError``).

``read_prompt_messages`` reads the thread newest first, in growing pages, only as far back as the prompt can
hold (``last_messages``, or until the messages read alone exceed the token budget), so a long thread costs
what its prompt holds, not its length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistants_core.domain.models import JSONDict, Message, Run
from assistants_core.ports import MessageRepository
from gpu_worker.engines.base import ChatMessage

TokenCounter = Callable[[Sequence[ChatMessage]], int]

CHAT_ROLES = frozenset({"user", "assistant"})
FIRST_READ_PAGE = 16  # messages; each further page doubles


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
    """What the model sees of one content part: text verbatim. Image parts give nothing: no served model
    reads images, the API refuses them at create, and one stored before that is not described to the model
    as if it could see it."""
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", {}).get("value", ""))
    if kind in ("image_file", "image_url"):
        return ""
    if kind == "refusal":
        return str(part.get("refusal", ""))
    return f"[{kind} content]"


def to_chat_message(message: Message) -> ChatMessage:
    role = message.role if message.role in CHAT_ROLES else "user"
    return ChatMessage(role=role, content="".join(describe_part(part) for part in message.content))


def last_messages_kept(run: Run) -> int | None:
    """How many of the newest thread messages the truncation strategy keeps (None: no such cap)."""
    strategy = run.truncation_strategy or {}
    last_messages = strategy.get("last_messages")
    if strategy.get("type") == "last_messages" and last_messages is not None:
        return max(0, int(last_messages))
    return None


def apply_truncation_strategy(run: Run, conversation: list[ChatMessage]) -> list[ChatMessage]:
    kept = last_messages_kept(run)
    if kept is None:
        return conversation
    return conversation[-kept:] if kept > 0 else []


def read_prompt_messages(
    messages: MessageRepository,
    run: Run,
    count_tokens: TokenCounter,
    context_token_limit: int | None = None,
) -> list[Message]:
    """The thread's messages ``build_prompt`` may keep for ``run``, oldest first: read newest first in pages
    of ``FIRST_READ_PAGE`` doubling, until ``last_messages`` are read, the thread is exhausted, or the
    messages read (with the system message) already exceed the token budget (older ones cannot fit; the
    functions text and tool history only add tokens)."""
    kept = last_messages_kept(run)
    limits = [limit for limit in (run.max_prompt_tokens, context_token_limit) if limit is not None]
    budget = min(limits) if limits else None
    system = system_text(run)
    head = [ChatMessage("system", system)] if system else []
    newest_first: list[Message] = []
    page = FIRST_READ_PAGE
    while True:
        want = page if kept is None else min(page, kept - len(newest_first))
        if want <= 0:
            break
        older_than = newest_first[-1].id if newest_first else None
        batch = messages.list_newest_thread_messages(run.thread_id, want, older_than=older_than)
        newest_first += batch
        if len(batch) < want:
            break
        if budget is not None:
            conversation = [to_chat_message(message) for message in reversed(newest_first)]
            if count_tokens(head + conversation) > budget:
                break
        page *= 2
    newest_first.reverse()
    return newest_first


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
