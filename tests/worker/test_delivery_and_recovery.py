"""Delivery guarantees: duplicates, dead workers, cancellation and many concurrent runs on one engine."""

from __future__ import annotations

import asyncio

import pytest

from assistants_core.domain.status import RunStatus
from assistants_core.services.maintenance import RunMaintenance
from gpu_worker.engines.scripted import ScriptedEngine
from tests.worker.world import World, wait_until


def test_duplicate_delivery_in_one_batch_writes_exactly_one_reply(world: World) -> None:
    thread = world.thread_with_messages("hello")
    run = world.new_run(thread)
    world.enqueue(run)  # the same run message delivered twice
    engine = ScriptedEngine(token_delay_seconds=0.005)

    asyncio.run(world.consumer(engine).run_until_idle())

    assert world.stored(run).status == RunStatus.COMPLETED
    assert world.stored(run).attempts == 1
    assert len(world.assistant_messages(thread)) == 1
    assert len(engine.prompts) == 1


def test_redelivery_after_completion_is_dropped(world: World) -> None:
    thread = world.thread_with_messages("hello")
    run = world.new_run(thread)
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())
    world.enqueue(run)  # e.g. the sweeper or SQS at-least-once delivery
    second_engine = ScriptedEngine()
    asyncio.run(world.consumer(second_engine, worker_id="worker-b").run_until_idle())

    assert len(world.assistant_messages(thread)) == 1
    assert second_engine.prompts == {}
    assert world.queue.approximate_depth() == 0


def test_concurrent_consumers_on_duplicates_write_one_reply(world: World) -> None:
    thread = world.thread_with_messages("race")
    run = world.new_run(thread)
    world.enqueue(run)
    engines = [ScriptedEngine(token_delay_seconds=0.005) for _ in range(2)]

    async def both() -> None:
        await asyncio.gather(
            world.consumer(engines[0], worker_id="worker-a").run_until_idle(),
            world.consumer(engines[1], worker_id="worker-b").run_until_idle(),
        )

    asyncio.run(both())
    assert world.stored(run).status == RunStatus.COMPLETED
    assert len(world.assistant_messages(thread)) == 1
    assert sum(len(engine.prompts) for engine in engines) == 1


def test_killed_worker_run_is_reclaimed_after_lease_expiry_and_completes_once(world: World) -> None:
    thread = world.thread_with_messages("survive this")
    run = world.new_run(thread)
    slow = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=10_000)

    async def kill_mid_run() -> None:
        worker = asyncio.create_task(world.consumer(slow, worker_id="worker-a").run_forever())
        await wait_until(lambda: bool(slow.active_requests))
        worker.cancel()  # the process dies: nothing more is written
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(kill_mid_run())
    held = world.stored(run)
    assert (held.status, held.lease_owner) == (RunStatus.IN_PROGRESS, "worker-a")
    assert world.assistant_messages(thread) == []

    # Before the lease expires nobody may take it over...
    maintenance = RunMaintenance(world.runs, world.queue, world.clock, requeue_after_seconds=120)
    assert maintenance.sweep().requeued == []
    # ...after it, the sweeper re-enqueues it and another worker re-claims and completes it.
    world.clock.advance(60 + 31)
    assert maintenance.sweep().requeued == [run.id]
    rescuer = ScriptedEngine()
    asyncio.run(world.consumer(rescuer, worker_id="worker-b").run_until_idle())

    finished = world.stored(run)
    assert (finished.status, finished.lease_owner, finished.attempts) == (RunStatus.COMPLETED, "worker-b", 2)
    assert len(world.assistant_messages(thread)) == 1
    assert list(rescuer.prompts) == [f"{run.id}-2"]


def test_worker_that_lost_its_lease_drops_its_result(world: World) -> None:
    thread = world.thread_with_messages("who wins")
    run = world.new_run(thread)
    slow = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=30)

    async def scenario() -> None:
        first = asyncio.create_task(world.consumer(slow, worker_id="worker-a").run_until_idle())
        await wait_until(lambda: bool(slow.active_requests))
        # worker-a stalls past its lease; worker-b re-claims the run with a later clock.
        claimed = world.runs.claim_run(
            thread.id, run.id, worker_id="worker-b", lease_seconds=60, now=world.clock.now() + 61
        )
        assert claimed is not None
        await first

    asyncio.run(scenario())
    stored = world.stored(run)
    assert (stored.status, stored.lease_owner) == (RunStatus.IN_PROGRESS, "worker-b")
    assert world.assistant_messages(thread) == []


def test_cancel_during_generation_aborts_and_writes_no_reply(world: World) -> None:
    thread = world.thread_with_messages("talk for a long time")
    run = world.new_run(thread)
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=100_000)

    async def scenario() -> None:
        consumer = asyncio.create_task(world.consumer(engine).run_until_idle())
        await wait_until(lambda: bool(engine.active_requests))
        world.runs.transition_run(world.stored(run), RunStatus.CANCELLING)
        await asyncio.wait_for(consumer, timeout=30)

    asyncio.run(scenario())
    stored = world.stored(run)
    assert stored.status == RunStatus.CANCELLED
    assert stored.cancelled_at is not None
    assert world.assistant_messages(thread) == []
    assert engine.aborted_requests == [f"{run.id}-1"]
    assert not engine.active_requests
    assert world.queue.approximate_depth() == 0
    world.new_run(thread, enqueue=False)  # lock released


def test_twenty_runs_on_twenty_threads_complete_concurrently(world: World) -> None:
    threads = [world.thread_with_messages(f"message number {index}") for index in range(20)]
    runs = [world.new_run(thread) for thread in threads]
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=20)

    asyncio.run(world.consumer(engine).run_until_idle())

    assert [world.stored(run).status for run in runs] == [RunStatus.COMPLETED] * 20
    for index, thread in enumerate(threads):
        (reply,) = world.assistant_messages(thread)
        assert f"number {index}" in reply.text()
    assert engine.max_concurrent_requests > 1


def test_max_concurrent_runs_bounds_generations(world: World) -> None:
    from dataclasses import replace

    from tests.worker.world import FAST_CONFIG

    runs = [world.new_run(world.thread_with_messages(f"m{i}")) for i in range(6)]
    engine = ScriptedEngine(token_delay_seconds=0.005, reply_tokens=10)
    consumer = world.consumer(engine, config=replace(FAST_CONFIG, max_concurrent_runs=2))
    asyncio.run(consumer.run_until_idle())
    assert [world.stored(run).status for run in runs] == [RunStatus.COMPLETED] * 6
    assert engine.max_concurrent_requests <= 2


def test_heartbeat_keeps_the_lease_of_a_long_generation(world: World) -> None:
    thread = world.thread_with_messages("a long one")
    run = world.new_run(thread)
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=60)

    async def scenario() -> None:
        consumer = asyncio.create_task(world.consumer(engine, worker_id="worker-a").run_until_idle())
        await wait_until(lambda: bool(engine.active_requests))
        world.clock.advance(120)  # well past the lease taken at claim time
        await wait_until(lambda: (world.stored(run).lease_expires_at or 0) > world.clock.now())
        stolen = world.runs.claim_run(
            thread.id, run.id, worker_id="worker-b", lease_seconds=60, now=world.clock.now()
        )
        assert stolen is None  # the renewed lease protects the run
        await consumer

    asyncio.run(scenario())
    finished = world.stored(run)
    assert (finished.status, finished.lease_owner) == (RunStatus.COMPLETED, "worker-a")
    assert len(world.assistant_messages(thread)) == 1
