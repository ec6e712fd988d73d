"""What a reply looks like to an OpenAI client (issue 15): the assistant message and its step keep the ids
and ``created_at`` they were announced with, and a run that sets no ``max_completion_tokens`` is limited only
by the context that is left, not by a fixed default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from assistants_core.domain.models import PageRequest
from assistants_core.domain.status import RunStatus
from gpu_worker.consumer import ConsumerConfig
from gpu_worker.engines.base import ChatMessage, GenerationChunk, SamplingOptions
from gpu_worker.engines.scripted import ScriptedEngine
from tests.worker.world import FAST_CONFIG, OWNER, FakeClock, World

SECONDS_PER_TOKEN = 7
# As deployed: no completion cap unless the run sets one (WorkerSettings / ConsumerConfig defaults).
UNCAPPED = replace(FAST_CONFIG, default_max_completion_tokens=ConsumerConfig().default_max_completion_tokens)


class SlowClockEngine(ScriptedEngine):
    """The scripted engine, with the worker's clock moving ``SECONDS_PER_TOKEN`` per generated token."""

    def __init__(self, clock: FakeClock, **options: int) -> None:
        super().__init__(**options)
        self._clock = clock

    async def generate(
        self, request_id: str, messages: Sequence[ChatMessage], options: SamplingOptions
    ) -> AsyncIterator[GenerationChunk]:
        async for chunk in super().generate(request_id, messages, options):
            self._clock.advance(SECONDS_PER_TOKEN)
            yield chunk


def test_reply_message_and_step_keep_their_ids_and_created_at_when_the_run_finishes(world: World) -> None:
    thread = world.thread_with_messages("tell me a few words")
    run = world.new_run(thread, stream_log_seq=0)  # streamed: its events are logged
    started = int(world.clock.now())
    asyncio.run(world.consumer(SlowClockEngine(world.clock, reply_tokens=5)).run_until_idle())

    finished = world.stored(run)
    assert finished.status == RunStatus.COMPLETED
    assert finished.completed_at is not None and finished.completed_at >= started + 5 * SECONDS_PER_TOKEN
    log = world.events.read(thread.id, run.id, limit=1000)

    def announced(name: str) -> list[tuple[str, int]]:
        return [(event.data["id"], event.data["created_at"]) for event in log if event.event == name]

    (reply,) = world.assistant_messages(thread)
    (step,) = world.runs.list_steps(OWNER, thread.id, run.id, PageRequest(limit=10, order="asc")).data
    assert announced("thread.message.created") == [(reply.id, started)]
    assert announced("thread.message.completed") == [(reply.id, started)]
    assert (reply.created_at, reply.completed_at) == (started, finished.completed_at)
    assert announced("thread.run.step.created") == [(step.id, started)]
    assert announced("thread.run.step.completed") == [(step.id, started)]
    assert (step.created_at, step.completed_at) == (started, finished.completed_at)


def test_a_run_without_max_completion_tokens_is_not_cut_at_512_tokens(world: World) -> None:
    assert ConsumerConfig().default_max_completion_tokens is None
    thread = world.thread_with_messages("count")
    run = world.new_run(thread)
    asyncio.run(world.consumer(ScriptedEngine(reply_tokens=700), config=UNCAPPED).run_until_idle())

    finished = world.stored(run)
    assert finished.status == RunStatus.COMPLETED
    assert finished.incomplete_details is None
    assert finished.usage is not None and finished.usage.completion_tokens == 700


def test_a_run_without_max_completion_tokens_may_use_the_context_that_is_left(world: World) -> None:
    thread = world.thread_with_messages("count")
    run = world.new_run(thread)
    config = replace(UNCAPPED, context_token_limit=64)
    asyncio.run(world.consumer(ScriptedEngine(reply_tokens=700), config=config).run_until_idle())

    finished = world.stored(run)
    assert finished.status == RunStatus.INCOMPLETE
    assert finished.incomplete_details == {"reason": "max_completion_tokens"}
    assert finished.usage is not None and finished.usage.total_tokens == 64


def test_the_configured_default_applies_only_to_runs_that_set_no_limit(world: World) -> None:
    thread = world.thread_with_messages("count")
    defaulted = world.new_run(thread)
    config = replace(UNCAPPED, default_max_completion_tokens=10)
    asyncio.run(world.consumer(ScriptedEngine(reply_tokens=30), config=config).run_until_idle())
    other = world.thread_with_messages("count")
    explicit = world.new_run(other, max_completion_tokens=20)
    asyncio.run(world.consumer(ScriptedEngine(reply_tokens=30), config=config).run_until_idle())

    for run, expected in ((defaulted, 10), (explicit, 20)):
        finished = world.stored(run)
        assert finished.status == RunStatus.INCOMPLETE
        assert finished.usage is not None and finished.usage.completion_tokens == expected
