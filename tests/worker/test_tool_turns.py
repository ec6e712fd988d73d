"""Tool turns through the real consumer and repositories (moto): duplicate deliveries around a tool turn,
the continuation after submitted outputs, and a tool wait that outlives ``expires_at``."""

from __future__ import annotations

import asyncio

import pytest

from assistants_core.adapters.dynamodb import DynamoAssistantRepository
from assistants_core.domain.models import PageRequest, Run, RunStep, Thread
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.schemas.runs import RunObject
from assistants_core.schemas.steps import RunStepObject
from assistants_core.schemas.tool_outputs import SubmitToolOutputsRequest, ToolOutput
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.services.run_stream import RunStreamService
from assistants_core.services.runs import RunService
from assistants_core.services.tool_outputs import ToolOutputService
from gpu_worker.engines.scripted import ScriptedEngine, call_marker
from tests.worker.world import OWNER, World

LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


@pytest.fixture
def tool_outputs(world: World, assistant_repo: DynamoAssistantRepository) -> ToolOutputService:
    runs = with_run_events(world.runs, world.events)
    run_service = RunService(
        assistant_repo, runs, world.queue, world.clock, run_expiry_seconds=600, max_message_chars=10_000
    )
    stream = RunStreamService(run_service, runs, world.events)
    return ToolOutputService(runs, world.queue, world.clock, stream=stream)


def steps_of(world: World, run: Run) -> list[RunStep]:
    return world.runs.list_steps(OWNER, run.thread_id, run.id, PageRequest(limit=100, order="asc")).data


def consume_twice_concurrently(world: World) -> list[ScriptedEngine]:
    engines = [ScriptedEngine(token_delay_seconds=0.002) for _ in range(2)]

    async def both() -> None:
        await asyncio.gather(
            world.consumer(engines[0], worker_id="worker-a").run_until_idle(),
            world.consumer(engines[1], worker_id="worker-b").run_until_idle(),
        )

    asyncio.run(both())
    return engines


def waiting_run(world: World) -> tuple[Thread, Run]:
    thread = world.thread_with_messages("find it " + call_marker("lookup", {"q": "x"}))
    run = world.new_run(thread, tools=[LOOKUP], stream_log_seq=0)
    world.enqueue(run)  # delivered twice
    engines = consume_twice_concurrently(world)
    assert sum(len(engine.prompts) for engine in engines) == 1
    return thread, world.stored(run)


def test_duplicate_deliveries_around_a_tool_turn_write_one_result_per_turn(
    world: World, tool_outputs: ToolOutputService
) -> None:
    thread, waiting = waiting_run(world)
    assert waiting.status == RunStatus.REQUIRES_ACTION
    assert waiting.lease_owner is None and waiting.lease_expires_at is None
    assert world.threads.get_thread(OWNER, thread.id).active_run_id == waiting.id
    assert world.queue.approximate_depth() == 0  # the duplicate of a waiting run is dropped, not deferred
    (step,) = steps_of(world, waiting)
    assert (step.type, step.status) == ("tool_calls", StepStatus.IN_PROGRESS)
    assert world.assistant_messages(thread) == []

    assert waiting.required_action is not None
    (call,) = waiting.required_action["submit_tool_outputs"]["tool_calls"]
    request = SubmitToolOutputsRequest(tool_outputs=[ToolOutput(tool_call_id=call["id"], output="found")])
    assert tool_outputs.submit(OWNER, thread.id, waiting.id, request).status == RunStatus.QUEUED
    world.enqueue(waiting)  # a duplicate of the continuation's message
    engines = consume_twice_concurrently(world)

    assert sum(len(engine.prompts) for engine in engines) == 1
    (prompt,) = [prompt for engine in engines for prompt in engine.prompts.values()]
    assert [message.role for message in prompt[-2:]] == ["assistant", "tool"]
    done = world.stored(waiting)
    assert done.status == RunStatus.COMPLETED and done.attempts == 2
    (reply,) = world.assistant_messages(thread)
    assert reply.text() == "Tool said: found"
    steps = steps_of(world, done)
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", StepStatus.COMPLETED),
        ("message_creation", StepStatus.COMPLETED),
    ]
    assert steps[0].step_details["tool_calls"][0]["function"]["output"] == "found"
    assert done.usage is not None
    assert done.usage.completion_tokens == sum(s.usage.completion_tokens for s in steps if s.usage)
    assert world.threads.get_thread(OWNER, thread.id).active_run_id is None


def test_a_tool_wait_past_expires_at_is_expired_by_the_sweeper(world: World) -> None:
    thread, waiting = waiting_run(world)
    assert waiting.status == RunStatus.REQUIRES_ACTION
    sweeper = RunMaintenance(
        with_run_events(world.runs, world.events), world.queue, world.clock, requeue_after_seconds=120
    )
    assert sweeper.sweep().expired == []
    world.clock.advance(601)

    assert sweeper.sweep().expired == [waiting.id]
    assert world.stored(waiting).status == RunStatus.EXPIRED
    (step,) = steps_of(world, waiting)
    assert step.status == StepStatus.EXPIRED and step.expired_at is not None
    assert world.threads.get_thread(OWNER, thread.id).active_run_id is None


def test_a_run_requeued_by_tool_outputs_is_not_sent_again_by_the_next_sweep(
    world: World, tool_outputs: ToolOutputService
) -> None:
    thread, waiting = waiting_run(world)
    world.clock.advance(300)  # outputs submitted long after the run was created
    assert waiting.required_action is not None
    (call,) = waiting.required_action["submit_tool_outputs"]["tool_calls"]
    request = SubmitToolOutputsRequest(tool_outputs=[ToolOutput(tool_call_id=call["id"], output="found")])
    tool_outputs.submit(OWNER, thread.id, waiting.id, request)
    sweeper = RunMaintenance(world.runs, world.queue, world.clock, requeue_after_seconds=120)

    assert sweeper.sweep().requeued == []
    world.clock.advance(121)
    assert sweeper.sweep().requeued == [waiting.id]


def test_a_tool_calls_step_shows_usage_only_once_it_has_ended(
    world: World, tool_outputs: ToolOutputService
) -> None:
    """OpenAI documents ``usage`` as null while a step is in_progress and while a run is not terminal."""
    thread, waiting = waiting_run(world)
    (pending,) = steps_of(world, waiting)
    log = world.events.read(thread.id, waiting.id, limit=1000)
    step_events = [event for event in log if event.event.startswith("thread.run.step.")]
    step_events = [event for event in step_events if event.event != "thread.run.step.delta"]  # no usage field
    assert [event.event for event in step_events] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
    ]
    assert [event.data["usage"] for event in step_events] == [None, None]
    assert RunStepObject.from_domain(pending).usage is None
    assert [event.data["usage"] for event in log if event.event == "thread.run.requires_action"] == [None]
    assert RunObject.from_domain(waiting).usage is None

    assert waiting.required_action is not None
    (call,) = waiting.required_action["submit_tool_outputs"]["tool_calls"]
    request = SubmitToolOutputsRequest(tool_outputs=[ToolOutput(tool_call_id=call["id"], output="found")])
    tool_outputs.submit(OWNER, thread.id, waiting.id, request)
    answered = steps_of(world, waiting)[0]
    shown = RunStepObject.from_domain(answered).usage
    assert answered.status == StepStatus.COMPLETED
    assert shown is not None and shown.completion_tokens > 0
