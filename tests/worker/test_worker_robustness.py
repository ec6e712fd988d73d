"""The worker under storage trouble and at the edges of its lifetime: failed reads and writes are waited out,
a cancelled run of a dead worker ends ``cancelled``, a consumer stops receiving in time to drain, and the
completion budget counts every turn of a run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from assistants_core.adapters.dynamodb.run_status import DynamoRunStatusReader
from assistants_core.domain.errors import AssistantsError, ConflictError, RateLimitError, StorageError
from assistants_core.domain.models import Run, Usage
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunRef
from assistants_core.services.maintenance import RunMaintenance
from gpu_worker.engines.base import ChatMessage
from gpu_worker.engines.scripted import ScriptedEngine
from tests.worker.world import World


def fail_first_calls(
    monkeypatch: pytest.MonkeyPatch, target: object, name: str, error: AssistantsError, *, times: int = 1
) -> list[int]:
    """Make ``target.name`` raise ``error`` on its first ``times`` calls; the list counts every call."""
    real = getattr(target, name)
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)
    return calls


def record_deletions(monkeypatch: pytest.MonkeyPatch, world: World) -> list[str]:
    deleted: list[str] = []
    real, real_batch = world.queue.delete_run_message, world.queue.delete_run_messages

    def delete(receipt_handle: str) -> None:
        deleted.append(receipt_handle)
        real(receipt_handle)

    def delete_batch(receipt_handles: Sequence[str]) -> list[str]:
        failed = real_batch(receipt_handles)
        deleted.extend(handle for handle in receipt_handles if handle not in failed)
        return failed

    monkeypatch.setattr(world.queue, "delete_run_message", delete)
    monkeypatch.setattr(world.queue, "delete_run_messages", delete_batch)
    return deleted


def cancelled_run_of_a_dead_worker(world: World) -> Run:
    run = world.cancelling_run_of_a_dead_worker(world.thread_with_messages("hello"))
    world.clock.advance(61)  # its lease ran out
    return run


# -- 1: a cancelled run whose worker died --------------------------------------------------------------------
def test_dead_letter_of_a_cancelled_run_ends_it_cancelled(world: World) -> None:
    run = cancelled_run_of_a_dead_worker(world)
    maintenance = RunMaintenance(world.runs, world.queue, world.clock, requeue_after_seconds=120)

    assert maintenance.fail_dead_letter(RunRef(run.thread_id, run.id)) is True

    stored = world.stored(run)
    assert stored.status == RunStatus.CANCELLED
    assert stored.cancelled_at is not None and stored.last_error is None


def test_message_of_a_cancelled_run_of_a_dead_worker_is_dropped_and_the_sweeper_ends_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cancelled_run_of_a_dead_worker(world)
    world.enqueue(run)  # its message came back when the visibility ran out
    deleted = record_deletions(monkeypatch, world)
    engine = ScriptedEngine()

    asyncio.run(world.consumer(engine, worker_id="live").run_until_idle())

    assert len(deleted) == 1  # not deferred again and again into the dead-letter queue
    assert engine.prompts == {}
    world.clock.advance(31)  # past the sweeper's lease grace
    maintenance = RunMaintenance(world.runs, world.queue, world.clock, requeue_after_seconds=120)
    assert maintenance.sweep().cancelled == [run.id]
    assert world.stored(run).status == RunStatus.CANCELLED


# -- 2: storage errors in the receive loop -------------------------------------------------------------------
def test_a_failed_receive_is_retried_and_the_run_completes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = world.new_run(world.thread_with_messages("hello"))
    calls = fail_first_calls(monkeypatch, world.queue, "receive_runs", StorageError("queue down"), times=2)

    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    assert len(calls) > 2
    assert world.stored(run).status == RunStatus.COMPLETED


def test_a_failed_claim_leaves_that_message_and_the_consumer_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [world.new_run(world.thread_with_messages(text)) for text in ("one", "two")]
    fail_first_calls(monkeypatch, world.runs, "claim_run", RateLimitError("throttled"))

    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    # The unclaimed message comes back when its visibility runs out; the other run was served meanwhile.
    statuses = sorted(world.stored(run).status.value for run in runs)
    assert statuses == [RunStatus.COMPLETED.value, RunStatus.QUEUED.value]


# -- 3: a failed read in the cancel watcher or the heartbeat -------------------------------------------------
@pytest.mark.parametrize("method", ["read_snapshots", "renew_lease"])
def test_one_failed_watcher_read_does_not_stop_a_healthy_generation(
    world: World, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    thread = world.thread_with_messages("hello")
    run = world.new_run(thread)
    target = DynamoRunStatusReader if method == "read_snapshots" else world.runs
    calls = fail_first_calls(monkeypatch, target, method, StorageError("blip"))
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=40)

    asyncio.run(world.consumer(engine).run_until_idle())

    assert len(calls) > 1
    stored = world.stored(run)
    assert (stored.status, stored.attempts) == (RunStatus.COMPLETED, 1)
    assert len(world.assistant_messages(thread)) == 1


def test_a_heartbeat_failing_past_the_lease_gives_the_run_up(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = world.thread_with_messages("hello")
    run = world.new_run(thread)

    def renew_failing_after_the_lease(*args: Any, **kwargs: Any) -> bool:
        world.clock.advance(61)  # storage keeps failing until the lease has passed
        raise StorageError("down")

    monkeypatch.setattr(world.runs, "renew_lease", renew_failing_after_the_lease)
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=10_000)

    asyncio.run(world.consumer(engine).run_until_idle())

    assert engine.aborted_requests  # the generation was stopped, not left running without a lease
    assert world.stored(run).status == RunStatus.IN_PROGRESS  # left for another worker to re-claim
    assert world.assistant_messages(thread) == []


# -- 4: a retryable failure of the final write ---------------------------------------------------------------
@pytest.mark.parametrize("error", [ConflictError("transaction conflict"), RateLimitError("throttled")])
def test_a_refused_final_write_is_retried_while_the_run_is_ours(
    world: World, monkeypatch: pytest.MonkeyPatch, error: AssistantsError
) -> None:
    thread = world.thread_with_messages("hello")
    run = world.new_run(thread)
    calls = fail_first_calls(monkeypatch, world.runs, "finish_run", error, times=2)
    deleted = record_deletions(monkeypatch, world)

    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    assert len(calls) == 3
    assert world.stored(run).status == RunStatus.COMPLETED
    assert len(world.assistant_messages(thread)) == 1
    assert len(deleted) == 1


def test_a_final_write_refused_after_a_cancel_ends_the_run_cancelled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = world.thread_with_messages("hello")
    run = world.new_run(thread)
    real_finish = world.runs.finish_run

    def cancel_then_conflict(stored_run: Run, *args: Any, **kwargs: Any) -> Run:
        if world.stored(run).status == RunStatus.IN_PROGRESS:
            world.runs.transition_run(world.stored(run), RunStatus.CANCELLING)
            raise ConflictError("the status moved")
        return real_finish(stored_run, *args, **kwargs)

    monkeypatch.setattr(world.runs, "finish_run", cancel_then_conflict)

    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    assert world.stored(run).status == RunStatus.CANCELLED
    assert world.assistant_messages(thread) == []


# -- 5: the consumer stops receiving in time -----------------------------------------------------------------
def test_a_consumer_past_its_receive_window_claims_nothing_and_returns(world: World) -> None:
    run = world.new_run(world.thread_with_messages("hello"))
    engine = ScriptedEngine()

    asyncio.run(world.consumer(engine).run_until_idle(3600, max_seconds=0))

    assert world.stored(run).status == RunStatus.QUEUED
    assert engine.prompts == {}


def test_a_batch_received_after_stop_is_not_claimed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    run = world.new_run(world.thread_with_messages("hello"))
    engine = ScriptedEngine()
    consumer = world.consumer(engine)
    real_receive = world.queue.receive_runs

    def receive_then_stop(**kwargs: Any) -> Any:
        received = real_receive(**kwargs)
        consumer.stop()  # e.g. SIGTERM while the long poll was waiting
        return received

    monkeypatch.setattr(world.queue, "receive_runs", receive_then_stop)

    asyncio.run(consumer.run_forever())

    assert world.stored(run).status == RunStatus.QUEUED
    assert engine.prompts == {}
    monkeypatch.undo()
    # Handed back: visible again at once, not hidden from other consumers for its visibility timeout.
    assert [d.ref.run_id for d in world.queue.receive_runs(max_messages=10, wait_seconds=0)] == [run.id]


# -- 7: the completion budget is per run ---------------------------------------------------------------------
def test_a_run_whose_earlier_turns_spent_the_budget_ends_incomplete_without_generating(world: World) -> None:
    run = world.new_run(
        world.thread_with_messages("a b c d e f g h"), max_completion_tokens=20, usage=Usage(5, 20)
    )
    engine = ScriptedEngine()

    asyncio.run(world.consumer(engine).run_until_idle())

    stored = world.stored(run)
    assert stored.status == RunStatus.INCOMPLETE
    assert stored.incomplete_details == {"reason": "max_completion_tokens"}
    assert stored.usage == Usage(5, 20)
    assert engine.prompts == {}


def test_a_later_turn_gets_only_the_rest_of_the_budget(world: World) -> None:
    run = world.new_run(
        world.thread_with_messages("a b c d e f g h"), max_completion_tokens=23, usage=Usage(5, 20)
    )

    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    stored = world.stored(run)
    assert stored.status == RunStatus.INCOMPLETE
    assert stored.usage is not None and stored.usage.completion_tokens == 23


def test_a_prompt_too_long_keeps_the_usage_of_earlier_turns(world: World) -> None:
    run = world.new_run(world.thread_with_messages("word " * 50), max_prompt_tokens=10, usage=Usage(5, 20))

    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())

    stored = world.stored(run)
    assert stored.incomplete_details == {"reason": "max_prompt_tokens"}
    assert stored.usage == Usage(5, 20)


# -- 8: prompt building off the event loop -------------------------------------------------------------------
class ThreadRecordingEngine(ScriptedEngine):
    def __init__(self) -> None:
        super().__init__()
        self.counting_threads: set[str] = set()

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        self.counting_threads.add(threading.current_thread().name)
        return super().count_prompt_tokens(messages)


def test_the_prompt_is_tokenized_off_the_event_loop_thread(world: World) -> None:
    run = world.new_run(world.thread_with_messages("hello"))
    engine = ThreadRecordingEngine()

    asyncio.run(world.consumer(engine).run_until_idle())

    assert world.stored(run).status == RunStatus.COMPLETED
    # build_prompt's counting ran in a worker thread (the scripted generate() also counts, on the loop).
    assert engine.counting_threads - {threading.current_thread().name}
