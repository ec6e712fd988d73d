"""The worker leaves a plain reply's step out of its final write (``domain.reply_steps``): streamed runs send
the same step events as when it was written, and the step they announce is the one list/retrieve derive."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from assistants_core.adapters.dynamodb import DynamoRunRepository
from assistants_core.adapters.dynamodb.items import steps_prefix, thread_pk
from assistants_core.domain.models import PageRequest
from assistants_core.schemas.steps import RunStepObject
from gpu_worker.engines.scripted import ScriptedEngine
from tests.worker.world import OWNER, World

STEP_EVENTS = "thread.run.step."


@pytest.mark.parametrize("derive", [True, False])
def test_a_streamed_run_announces_the_step_that_is_then_listed(world: World, derive: bool) -> None:
    worker_world = replace(world, runs=DynamoRunRepository(world.table, derive_reply_steps=derive))
    thread = world.thread_with_messages("hello")
    run = world.new_run(thread, stream_log_seq=0)  # streamed: its events are logged
    asyncio.run(worker_world.consumer(ScriptedEngine(reply_tokens=6)).run_until_idle())

    log = world.events.read(thread.id, run.id, limit=1000)
    step_events = [(event.event, event.data) for event in log if event.event.startswith(STEP_EVENTS)]
    assert [name for name, _ in step_events if name != "thread.run.step.delta"] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.completed",
    ]
    (listed,) = world.runs.list_steps(OWNER, thread.id, run.id, PageRequest(limit=10)).data
    wire = RunStepObject.from_domain(listed).model_dump(mode="json")
    assert step_events[-1][1] == wire  # the completed event's step is exactly the listed one
    assert world.runs.get_step(OWNER, thread.id, run.id, listed.id) == listed
    stored_item = world.table.get(thread_pk(thread.id), steps_prefix(run.id) + listed.id)
    assert (stored_item is None) is derive
    assert (world.stored(run).reply_step_at is not None) is derive
