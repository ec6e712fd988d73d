"""The worker's throughput paths (issue 11) through the real consumer, repositories and queue (moto): the
event log only for streamed runs (a reader attaching mid-run or just before the final write still gets the
whole reply), one batched status read for all generating runs, concurrent claims, long polls while runs are
in flight, and batched message deletes with partial failures."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from assistants_core.adapters.dynamodb import DynamoAssistantRepository
from assistants_core.adapters.dynamodb.run_status import DynamoRunStatusReader
from assistants_core.domain.models import Run
from assistants_core.domain.run_events import RunEvent
from assistants_core.domain.status import RunStatus
from assistants_core.ports import ReceivedRun
from gpu_worker.engines.scripted import ScriptedEngine
from tests.worker.test_run_events import stream_service, text_after_last_message_start
from tests.worker.world import FAST_CONFIG, OWNER, World, wait_until


def test_a_run_nobody_streams_writes_no_events_and_completes(world: World) -> None:
    thread = world.thread_with_messages("quiet")
    run = world.new_run(thread)
    asyncio.run(world.consumer(ScriptedEngine(reply_tokens=50)).run_until_idle())
    assert world.stored(run).status == RunStatus.COMPLETED
    assert len(world.assistant_messages(thread)[0].text().split()) == 50
    assert world.events.read(thread.id, run.id) == []
    assert world.events.last_seq(thread.id, run.id) == 0


def test_a_reader_attaching_mid_run_gets_a_catch_up_and_the_whole_reply(
    world: World, assistant_repo: DynamoAssistantRepository
) -> None:
    thread = world.thread_with_messages("late reader")
    run = world.new_run(thread)
    engine = ScriptedEngine(token_delay_seconds=0.005, reply_tokens=120)
    service = stream_service(world, assistant_repo)

    async def scenario() -> list[RunEvent]:
        worker = asyncio.create_task(world.consumer(engine).run_until_idle())
        await wait_until(lambda: any(True for _ in engine.active_requests))
        events = [event async for event in service.stream_after(OWNER, thread.id, run.id, 0)]
        await worker
        return events

    events = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    names = [event.event for event in events]
    assert (events[0].seq, names[0]) == (0, "thread.run.in_progress")  # the catch-up from the run item
    assert "thread.message.created" in names and names[-1] == "thread.run.completed"
    (reply,) = world.assistant_messages(thread)
    assert text_after_last_message_start(events) == reply.text()
    assert "thread.message.completed" in names
    assert world.stored(run).streamed


def test_a_reader_attaching_just_before_the_final_write_still_gets_the_final_events(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = world.thread_with_messages("race")
    run = world.new_run(thread)
    real_finish, attempts = world.runs.finish_run, []

    def attach_then_finish(held: Run, *args: Any, **kwargs: Any) -> Run:
        if not attempts:  # a reader marks the run between the worker's last status read and its write
            assert world.runs.mark_streamed(held) is not None
        attempts.append(held.streamed)
        return real_finish(held, *args, **kwargs)

    monkeypatch.setattr(world.runs, "finish_run", attach_then_finish)
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())
    assert attempts == [False, True]  # refused unmarked, written again with events
    names = [event.event for event in world.events.read(thread.id, run.id)]
    assert names == ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    assert world.stored(run).status == RunStatus.COMPLETED


def test_one_batched_status_read_covers_every_generating_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [world.new_run(world.thread_with_messages(f"batch {i}")) for i in range(6)]
    batches: list[int] = []
    real_read = DynamoRunStatusReader.read_snapshots

    def counting(reader: DynamoRunStatusReader, keys: Sequence[tuple[str, str]]) -> Any:
        batches.append(len(keys))
        return real_read(reader, keys)

    monkeypatch.setattr(DynamoRunStatusReader, "read_snapshots", counting)
    find_calls = count_calls(monkeypatch, world.runs, "find_run")
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=30)
    asyncio.run(world.consumer(engine).run_until_idle())
    assert find_calls == []  # no per-run read while generating
    assert max(batches) == 6  # all six runs in one request
    assert all(world.stored(run).status == RunStatus.COMPLETED for run in runs)


def count_calls(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> list[int]:
    real, calls = getattr(target, name), []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, counted)
    return calls


@pytest.mark.parametrize(("concurrent", "expected_peak"), [(True, 5), (False, 1)])
def test_a_received_batch_is_claimed_concurrently(
    world: World, monkeypatch: pytest.MonkeyPatch, concurrent: bool, expected_peak: int
) -> None:
    for i in range(5):
        world.new_run(world.thread_with_messages(f"claim {i}"))
    real_claim, lock = world.runs.claim_run, threading.Lock()
    active, peak = [0], [0]

    def slow_claim(*args: Any, **kwargs: Any) -> Run | None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)  # a claim that takes a while: concurrent ones overlap
        with lock:
            active[0] -= 1
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(world.runs, "claim_run", slow_claim)
    config = replace(FAST_CONFIG, concurrent_claims=concurrent)
    asyncio.run(world.consumer(ScriptedEngine(), config=config).run_until_idle())
    assert peak[0] == expected_peak
    assert all(world.stored(run).status == RunStatus.COMPLETED for run in world.created)


def test_the_queue_is_long_polled_while_runs_are_in_flight(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.new_run(world.thread_with_messages("busy"))
    waits: list[int] = []
    real_receive = world.queue.receive_runs

    def recording(*, max_messages: int, wait_seconds: int) -> list[ReceivedRun]:
        waits.append(wait_seconds)
        return real_receive(max_messages=max_messages, wait_seconds=wait_seconds)

    monkeypatch.setattr(world.queue, "receive_runs", recording)
    config = replace(FAST_CONFIG, receive_wait_seconds=1)
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=150)
    asyncio.run(world.consumer(engine, config=config).run_until_idle())
    assert waits and set(waits) == {1}  # never a busy poll with wait 0 while the run generated


def test_finished_runs_messages_are_deleted_in_batches_and_a_failed_entry_on_its_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(6):
        world.new_run(world.thread_with_messages(f"delete {i}"))
    batches: list[int] = []
    singles: list[str] = []
    real_batch, real_single = world.queue.delete_run_messages, world.queue.delete_run_message

    def batch_failing_its_first_entry(receipt_handles: Sequence[str]) -> list[str]:
        batches.append(len(receipt_handles))
        return [receipt_handles[0], *real_batch(receipt_handles[1:])]

    def single(receipt_handle: str) -> None:
        singles.append(receipt_handle)
        real_single(receipt_handle)

    monkeypatch.setattr(world.queue, "delete_run_messages", batch_failing_its_first_entry)
    monkeypatch.setattr(world.queue, "delete_run_message", single)
    config = replace(FAST_CONFIG, delete_linger_seconds=0.2)
    asyncio.run(world.consumer(ScriptedEngine(), config=config).run_until_idle())
    assert sum(batches) == 6 and len(batches) < 6
    assert len(singles) == len(batches)  # each batch's failed entry, deleted again alone
    assert world.queue.approximate_depth() == 0
    assert world.queue.receive_runs(max_messages=10, wait_seconds=0) == []
