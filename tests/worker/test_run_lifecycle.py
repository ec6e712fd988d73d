"""A run through the real consumer, repositories and queue (moto): completion, limits and failures."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from assistants_core.adapters.aws import AwsClients
from assistants_core.domain import ids
from assistants_core.domain.errors import ThreadBusyError
from assistants_core.domain.models import PageRequest
from assistants_core.domain.status import RunStatus
from gpu_worker.engines.scripted import DEFAULT_FAILURE_MARKER, ScriptedEngine
from gpu_worker.outcomes import reply_message_id, reply_step_id
from tests.worker.world import OWNER, World, text_content


def test_run_completes_with_one_reply_step_and_usage(world: World) -> None:
    thread = world.thread_with_messages("hello there", "how are you")
    run = world.new_run(thread)
    engine = ScriptedEngine()

    asyncio.run(world.consumer(engine).run_until_idle())

    stored = world.stored(run)
    assert stored.status == RunStatus.COMPLETED
    assert stored.completed_at is not None
    replies = world.assistant_messages(thread)
    assert [reply.id for reply in replies] == [reply_message_id(run)]
    reply = replies[0]
    assert reply.text() == "You said: how are you"
    assert (reply.run_id, reply.assistant_id, reply.status) == (run.id, run.assistant_id, "completed")
    prompt = engine.prompts[f"{run.id}-1"]
    assert [(m.role, m.content) for m in prompt] == [
        ("system", "Be brief."),
        ("user", "hello there"),
        ("user", "how are you"),
    ]
    assert stored.usage is not None
    assert stored.usage.prompt_tokens == engine.count_prompt_tokens(prompt)
    assert stored.usage.completion_tokens == len(reply.text().split())
    steps = world.runs.list_steps(OWNER, thread.id, run.id, page=PageRequest(limit=100, order="asc")).data
    assert [step.id for step in steps] == [reply_step_id(run)]
    assert steps[0].step_details == {
        "type": "message_creation",
        "message_creation": {"message_id": reply.id},
    }
    assert steps[0].status == "completed"
    assert steps[0].usage == stored.usage
    # The thread lock was released in the same transaction: a new run can start.
    world.new_run(thread, enqueue=False)


def test_queue_message_is_deleted_after_the_final_write(world: World) -> None:
    thread = world.thread_with_messages("hi")
    world.new_run(thread)
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())
    assert world.queue.receive_runs(max_messages=10, wait_seconds=0) == []
    assert world.queue.approximate_depth() == 0


def test_additional_instructions_and_last_messages_truncation(world: World) -> None:
    thread = world.thread_with_messages("one", "two", "three")
    run = world.new_run(
        thread,
        additional_instructions="Answer in French.",
        truncation_strategy={"type": "last_messages", "last_messages": 2},
    )
    engine = ScriptedEngine()
    asyncio.run(world.consumer(engine).run_until_idle())
    prompt = engine.prompts[f"{run.id}-1"]
    assert [m.content for m in prompt] == ["Be brief.\n\nAnswer in French.", "two", "three"]


def test_max_completion_tokens_makes_the_run_incomplete(world: World) -> None:
    thread = world.thread_with_messages("a b c d e f g h")
    run = world.new_run(thread, max_completion_tokens=3)
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    stored = world.stored(run)
    assert stored.status == RunStatus.INCOMPLETE
    assert stored.incomplete_details == {"reason": "max_completion_tokens"}
    assert stored.usage is not None and stored.usage.completion_tokens == 3
    (reply,) = world.assistant_messages(thread)
    assert reply.status == "incomplete"
    assert reply.text() == "You said: a"
    assert reply.incomplete_details == {"reason": "max_tokens"}


def test_prompt_over_max_prompt_tokens_makes_the_run_incomplete_without_reply(world: World) -> None:
    thread = world.thread_with_messages("word " * 50)
    run = world.new_run(thread, max_prompt_tokens=10)
    engine = ScriptedEngine()
    asyncio.run(world.consumer(engine).run_until_idle())

    stored = world.stored(run)
    assert stored.status == RunStatus.INCOMPLETE
    assert stored.incomplete_details == {"reason": "max_prompt_tokens"}
    assert world.assistant_messages(thread) == []
    assert engine.prompts == {}


def test_engine_failure_fails_the_run_with_a_sanitized_error(world: World) -> None:
    thread = world.thread_with_messages(f"please {DEFAULT_FAILURE_MARKER}")
    run = world.new_run(thread)
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    stored = world.stored(run)
    assert stored.status == RunStatus.FAILED
    assert stored.last_error == {
        "code": "server_error",
        "message": "The server had an error while processing the run.",
    }
    assert "scripted failure" not in str(stored.last_error)
    assert stored.failed_at is not None
    # The reply announced to streams ends as OpenAI ends it: message incomplete, step failed.
    (reply,) = world.assistant_messages(thread)
    assert (reply.id, reply.status, reply.content) == (reply_message_id(run), "incomplete", [])
    assert reply.incomplete_details == {"reason": "run_failed"}
    (step,) = world.runs.list_steps(OWNER, thread.id, run.id, page=PageRequest(limit=10, order="asc")).data
    assert (step.id, step.status, step.failed_at) == (reply_step_id(run), "failed", stored.failed_at)
    assert step.last_error == stored.last_error
    world.new_run(thread, enqueue=False)  # lock released


def test_engine_failure_mid_stream_fails_the_run(world: World) -> None:
    thread = world.thread_with_messages("one two three four")
    run = world.new_run(thread)
    asyncio.run(world.consumer(ScriptedEngine(fail_after_tokens=2)).run_until_idle())
    assert world.stored(run).status == RunStatus.FAILED
    (reply,) = world.assistant_messages(thread)  # what was generated before the failure, incomplete
    assert (reply.status, reply.text()) == ("incomplete", "You said:")


def test_expired_run_is_expired_not_generated(world: World) -> None:
    thread = world.thread_with_messages("too late")
    run = world.new_run(thread)
    world.clock.advance(601)
    engine = ScriptedEngine()
    asyncio.run(world.consumer(engine).run_until_idle())

    assert world.stored(run).status == RunStatus.EXPIRED
    assert world.assistant_messages(thread) == []
    assert engine.prompts == {}
    world.new_run(thread, enqueue=False)  # lock released


def test_second_run_on_a_busy_thread_is_rejected_until_the_first_ends(world: World) -> None:
    thread = world.thread_with_messages("first")
    first = world.new_run(thread)
    try:
        world.new_run(thread)
    except ThreadBusyError as error:
        assert error.run_id == first.id
    else:
        raise AssertionError("a second active run was accepted")
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())
    assert world.stored(first).status == RunStatus.COMPLETED
    second = world.new_run(thread)
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())
    assert world.stored(second).status == RunStatus.COMPLETED
    assert len(world.assistant_messages(thread)) == 2


def test_a_long_thread_is_read_only_as_far_back_as_the_prompt_holds(
    world: World, aws_clients: AwsClients
) -> None:
    """The worker read every message of a thread before truncating (13 s on 980 messages with
    ``last_messages=1``); it now reads newest first, only what the prompt can hold."""
    thread = world.thread_with_messages("first")
    for index in range(150):
        newest = world.messages.list_newest_thread_messages(thread.id, 1)[0]
        message = replace(newest, id=ids.new_id(ids.MESSAGE), content=text_content(f"message {index}"))
        world.messages.add_message(message)
    run = world.new_run(thread, truncation_strategy={"type": "last_messages", "last_messages": 1})
    engine = ScriptedEngine()
    scanned: list[int] = []

    def record(parsed: dict[str, Any], **_: Any) -> None:
        scanned.append(int(parsed.get("ScannedCount", 0)))

    aws_clients.dynamodb.meta.events.register("after-call.dynamodb.Query", record)
    try:
        asyncio.run(world.consumer(engine).run_until_idle())
    finally:
        aws_clients.dynamodb.meta.events.unregister("after-call.dynamodb.Query", record)
    assert world.stored(run).status == RunStatus.COMPLETED
    assert [m.content for m in engine.prompts[f"{run.id}-1"]] == ["Be brief.", "message 149"]
    assert sum(scanned) < 20, scanned  # the whole thread is 151 messages
