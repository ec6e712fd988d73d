"""Prompt building: instructions, message order, non-text parts, truncation strategy and token budgets."""

from __future__ import annotations

import pytest

from assistants_core.domain.models import Message, Run
from assistants_core.domain.status import RunStatus
from gpu_worker.engines.base import ChatMessage
from gpu_worker.engines.scripted import ScriptedEngine
from gpu_worker.prompt import (
    FIRST_READ_PAGE,
    PromptTooLongError,
    build_prompt,
    describe_part,
    read_prompt_messages,
    to_chat_message,
)

COUNT = ScriptedEngine().count_prompt_tokens


def make_run(**overrides: object) -> Run:
    values: dict[str, object] = {
        "id": "run_1",
        "owner": "o",
        "thread_id": "thread_1",
        "assistant_id": "asst_1",
        "created_at": 0,
        "status": RunStatus.IN_PROGRESS,
        "model": "m",
        "instructions": "Be kind.",
        "expires_at": None,
    }
    return Run(**{**values, **overrides})  # type: ignore[arg-type]


def text_message(index: int, text: str, role: str = "user") -> Message:
    return Message(
        id=f"msg_{index:04d}",
        owner="o",
        thread_id="thread_1",
        created_at=index,
        role=role,
        content=[{"type": "text", "text": {"value": text, "annotations": []}}],
    )


def contents(messages: list[ChatMessage]) -> list[str]:
    return [message.content for message in messages]


def test_system_prompt_joins_instructions_and_additional_instructions() -> None:
    run = make_run(additional_instructions="Use French.")
    prompt = build_prompt(run, [text_message(1, "hi")], COUNT)
    assert prompt.messages == [ChatMessage("system", "Be kind.\n\nUse French."), ChatMessage("user", "hi")]
    assert prompt.prompt_tokens == COUNT(prompt.messages)


def test_no_instructions_means_no_system_message_and_roles_are_kept_in_order() -> None:
    run = make_run(instructions=None)
    messages = [text_message(1, "q1"), text_message(2, "a1", "assistant"), text_message(3, "q2")]
    prompt = build_prompt(run, messages, COUNT)
    assert [(m.role, m.content) for m in prompt.messages] == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
    ]


def test_image_parts_give_the_model_no_placeholder_text() -> None:
    assert describe_part({"type": "image_file", "image_file": {"file_id": "file_9"}}) == ""
    assert describe_part({"type": "image_url", "image_url": {"url": "https://x/y.png"}}) == ""
    assert describe_part({"type": "audio"}) == "[audio content]"
    message = text_message(1, "look: ")
    message.content.append({"type": "image_file", "image_file": {"file_id": "file_9"}})
    assert contents(build_prompt(make_run(), [message], COUNT).messages)[1] == "look: "


def test_last_messages_truncation_keeps_the_newest_n() -> None:
    run = make_run(truncation_strategy={"type": "last_messages", "last_messages": 2})
    prompt = build_prompt(run, [text_message(i, f"m{i}") for i in range(5)], COUNT)
    assert contents(prompt.messages) == ["Be kind.", "m3", "m4"]
    assert prompt.dropped_messages == 3


def test_auto_truncation_keeps_everything_that_fits() -> None:
    run = make_run(truncation_strategy={"type": "auto", "last_messages": None})
    prompt = build_prompt(run, [text_message(i, f"m{i}") for i in range(5)], COUNT)
    assert len(prompt.messages) == 6
    assert prompt.dropped_messages == 0


@pytest.mark.parametrize("count", [1, 2, 7, 30])
def test_max_prompt_tokens_drops_the_oldest_until_it_fits(count: int) -> None:
    messages = [text_message(i, "two words") for i in range(count)]
    # system (3 + 2) + generation prompt 2 + each message 3 + 2 = 5 tokens -> budget for exactly 2 messages
    run = make_run(max_prompt_tokens=2 + 5 + 2 * 5)
    prompt = build_prompt(run, messages, COUNT)
    kept = min(count, 2)
    assert len(prompt.messages) == 1 + kept
    assert [m.content for m in prompt.messages[1:]] == ["two words"] * kept
    assert prompt.prompt_tokens <= 17
    assert prompt.dropped_messages == count - kept


def test_dropping_keeps_the_newest_messages() -> None:
    messages = [text_message(i, f"m{i}") for i in range(10)]
    run = make_run(instructions=None, max_prompt_tokens=2 + 3 * 4)  # three one-word messages
    assert contents(build_prompt(run, messages, COUNT).messages) == ["m7", "m8", "m9"]


def test_the_smaller_of_max_prompt_tokens_and_context_limit_applies() -> None:
    messages = [text_message(i, f"m{i}") for i in range(10)]
    run = make_run(instructions=None, max_prompt_tokens=1000)
    prompt = build_prompt(run, messages, COUNT, context_token_limit=2 + 4 * 2)
    assert contents(prompt.messages) == ["m8", "m9"]


def test_newest_message_alone_over_budget_raises() -> None:
    run = make_run(max_prompt_tokens=12)
    with pytest.raises(PromptTooLongError) as raised:
        build_prompt(run, [text_message(1, "short"), text_message(2, "far too many words here ok")], COUNT)
    assert raised.value.budget == 12
    assert raised.value.prompt_tokens == COUNT(
        [ChatMessage("system", "Be kind."), ChatMessage("user", "far too many words here ok")]
    )


class CountingMessages:
    """A thread of ``count`` messages behind ``list_newest_thread_messages``, counting the items read."""

    def __init__(self, count: int, words: int = 1) -> None:
        self.thread = [text_message(index, " ".join(["w"] * words)) for index in range(count)]
        self.items_read = 0
        self.calls = 0

    def list_newest_thread_messages(
        self, thread_id: str, limit: int, *, older_than: str | None = None
    ) -> list[Message]:
        assert thread_id == "thread_1"
        end = len(self.thread)
        if older_than is not None:
            end = next(index for index, message in enumerate(self.thread) if message.id == older_than)
        page = self.thread[max(0, end - limit) : end][::-1]
        self.calls += 1
        self.items_read += len(page)
        return page


def read(messages: CountingMessages, run: Run, context_token_limit: int | None = None) -> list[Message]:
    return read_prompt_messages(messages, run, COUNT, context_token_limit)  # type: ignore[arg-type]


def test_reads_only_the_last_messages_the_strategy_keeps() -> None:
    thread = CountingMessages(980)
    run = make_run(truncation_strategy={"type": "last_messages", "last_messages": 1})
    assert read(thread, run) == thread.thread[-1:]
    assert (thread.calls, thread.items_read) == (1, 1)

    thread = CountingMessages(980)
    run = make_run(truncation_strategy={"type": "last_messages", "last_messages": 40})
    assert read(thread, run) == thread.thread[-40:]
    assert thread.items_read == 40
    assert read(CountingMessages(0), run) == []


def test_reads_newest_first_until_the_token_budget_is_exceeded() -> None:
    thread = CountingMessages(980, words=20)
    per_message = COUNT([to_chat_message(thread.thread[0])])
    read_back = read(thread, make_run(), context_token_limit=30 * per_message)
    assert read_back == thread.thread[-len(read_back) :]  # oldest first, a suffix of the thread
    assert len(read_back) >= 30  # every message the budget can hold was read
    assert thread.items_read == len(read_back) <= 2 * 30 + FIRST_READ_PAGE  # pages double: O(needed)
    prompt = build_prompt(make_run(), read_back, COUNT, context_token_limit=30 * per_message)
    full = build_prompt(make_run(), thread.thread, COUNT, context_token_limit=30 * per_message)
    assert prompt.messages == full.messages  # the same prompt as from the whole thread


def test_without_any_limit_the_whole_thread_is_read_in_order() -> None:
    thread = CountingMessages(100)
    assert read(thread, make_run()) == thread.thread
    assert thread.calls == 3  # pages of 16, 32, 64 (only 52 left: a short page ends it)
