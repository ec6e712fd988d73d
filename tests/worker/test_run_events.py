"""The run event log as the worker, the sweeper and the API's stream see it: coalesced deltas, a re-claimed
run restarting its reply, terminal events from every status path, and streams that close without them."""

from __future__ import annotations

import asyncio

import pytest

from assistants_core.adapters.dynamodb import DynamoAssistantRepository
from assistants_core.domain.models import Run, Thread
from assistants_core.domain.run_events import NewRunEvent, RunEvent
from assistants_core.domain.status import RunStatus
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.services.run_stream import RunStreamService
from assistants_core.services.runs import RunService
from gpu_worker.engines.scripted import ScriptedEngine
from tests.worker.world import OWNER, World, wait_until


def stream_service(world: World, assistant_repo: DynamoAssistantRepository) -> RunStreamService:
    runs = with_run_events(world.runs, world.events)
    service = RunService(
        assistant_repo, runs, world.queue, world.clock, run_expiry_seconds=600, max_message_chars=1000
    )
    return RunStreamService(
        service, runs, world.events, poll_seconds=0, run_check_seconds=0, terminal_event_grace_seconds=0
    )


def streamed(service: RunStreamService, thread: Thread, run: Run, after_seq: int = 0) -> list[RunEvent]:
    async def collect() -> list[RunEvent]:
        return [event async for event in service.stream_after(OWNER, thread.id, run.id, after_seq)]

    return asyncio.run(asyncio.wait_for(collect(), timeout=20))


def text_after_last_message_start(events: list[RunEvent]) -> str:
    """What an accumulator keyed by message id holds at the end (``thread.message.created`` resets it)."""
    text = ""
    for event in events:
        if event.event == "thread.message.created":
            text = ""
        elif event.event == "thread.message.delta":
            text += "".join(part["text"]["value"] for part in event.data["delta"]["content"])
    return text


def test_long_reply_is_tens_of_delta_writes_not_one_per_token(world: World) -> None:
    thread = world.thread_with_messages("count")
    run = world.new_run(thread, stream_log_seq=0)
    asyncio.run(world.consumer(ScriptedEngine(reply_tokens=500)).run_until_idle())
    log = world.events.read(thread.id, run.id, limit=1000)
    deltas = [event for event in log if event.event == "thread.message.delta"]
    assert 1 <= len(deltas) <= 500 // 16 + 1
    (reply,) = world.assistant_messages(thread)
    assert text_after_last_message_start(log) == reply.text()
    assert len(reply.text().split()) == 500
    assert [event.seq for event in log] == list(range(1, len(log) + 1))
    assert log[-1].event == "thread.run.completed"


def test_reclaimed_run_restarts_its_reply_without_duplicated_text(
    world: World, assistant_repo: DynamoAssistantRepository
) -> None:
    thread = world.thread_with_messages("survive this")
    run = world.new_run(thread, stream_log_seq=0)
    slow = ScriptedEngine(token_delay_seconds=0.002, reply_tokens=10_000)

    async def kill_after_some_deltas() -> None:
        worker = asyncio.create_task(world.consumer(slow, worker_id="worker-a").run_forever())
        await wait_until(
            lambda: any(e.event == "thread.message.delta" for e in world.events.read(thread.id, run.id))
        )
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(kill_after_some_deltas())
    world.clock.advance(60 + 31)
    maintenance = RunMaintenance(
        with_run_events(world.runs, world.events), world.queue, world.clock, requeue_after_seconds=120
    )
    assert maintenance.sweep().requeued == [run.id]
    asyncio.run(world.consumer(ScriptedEngine(), worker_id="worker-b").run_until_idle())

    events = streamed(stream_service(world, assistant_repo), thread, run)
    names = [event.event for event in events]
    assert names.count("thread.run.in_progress") == 2 and names.count("thread.message.created") == 2
    assert {event.attempt for event in events if event.event == "thread.message.delta"} == {1, 2}
    (reply,) = world.assistant_messages(thread)
    assert text_after_last_message_start(events) == reply.text() == "You said: survive this"
    assert names[-1] == "thread.run.completed"


def test_sweeper_expiry_and_api_cancel_append_their_terminal_events(world: World) -> None:
    runs = with_run_events(world.runs, world.events)
    maintenance = RunMaintenance(runs, world.queue, world.clock, requeue_after_seconds=120)
    expiring = world.thread_with_messages("late")
    late = world.new_run(expiring, enqueue=False, stream_log_seq=0)
    world.clock.advance(601)
    assert maintenance.sweep().expired == [late.id]
    assert world.events.read(expiring.id, late.id)[-1].event == "thread.run.expired"

    cancelled_thread = world.thread_with_messages("never mind")
    queued = world.new_run(cancelled_thread, enqueue=False, stream_log_seq=0)
    runs.transition_run(queued, RunStatus.CANCELLED, fields={"cancelled_at": int(world.clock.now())})
    (cancelled,) = world.events.read(cancelled_thread.id, queued.id)
    assert cancelled.event == "thread.run.cancelled" and cancelled.data["cancelled_at"] is not None


def test_stream_closes_on_a_run_that_ended_without_its_event(
    world: World, assistant_repo: DynamoAssistantRepository
) -> None:
    thread = world.thread_with_messages("lost event")
    run = world.new_run(thread, enqueue=False, stream_log_seq=0)
    world.events.append(thread.id, run.id, [NewRunEvent("thread.run.created", {"id": run.id})])
    # Failed by a writer whose event never made it to the log (e.g. it died right after its write).
    world.runs.transition_run(run, RunStatus.FAILED, fields={"failed_at": 1, "last_error": {"code": "x"}})
    events = streamed(stream_service(world, assistant_repo), thread, run)
    assert [(event.seq, event.event) for event in events] == [
        (1, "thread.run.created"),
        (0, "thread.run.failed"),
    ]
    assert events[-1].data["status"] == "failed" and events[-1].data["last_error"] == {"code": "x"}


def test_stream_drops_message_events_of_a_superseded_attempt(
    world: World, assistant_repo: DynamoAssistantRepository
) -> None:
    thread = world.thread_with_messages("zombie")
    run = world.new_run(thread, enqueue=False, stream_log_seq=0)

    def delta(text: str, attempt: int) -> NewRunEvent:
        data = {"delta": {"content": [{"index": 0, "type": "text", "text": {"value": text}}]}}
        return NewRunEvent("thread.message.delta", data, attempt)

    world.events.append(
        thread.id,
        run.id,
        [
            NewRunEvent("thread.run.in_progress", {}, 2),
            NewRunEvent("thread.message.created", {}, 2),
            delta("late zombie text", 1),
            delta("fresh", 2),
            NewRunEvent("thread.run.cancelling", {}, 1),  # run events always pass
            NewRunEvent("thread.run.cancelled", {}, 1),
        ],
    )
    events = streamed(stream_service(world, assistant_repo), thread, run)
    assert [event.seq for event in events] == [1, 2, 4, 5, 6]
    assert text_after_last_message_start(events) == "fresh"
