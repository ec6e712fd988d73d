"""Soak: a few hundred runs on many threads through the real services, queue and consumers (scripted engine,
moto in-process), with random cancels, duplicate deliveries and a worker killed mid-way and replaced.

Every random decision comes from one seed (the ``soak_seed`` fixture prints it; ``--reliability-seed=<n>``
replays it). Interleavings still depend on real scheduling, so a replay makes the same decisions, not
necessarily the same timings.

Afterwards: every run is terminal, every completed run has exactly one reply (and no other run more than
one), every user message is stored exactly once and in order, and every thread lock is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from assistants_core.adapters.dynamodb import (
    DynamoAssistantRepository,
    DynamoRunSlotStore,
    DynamoTenantQuotaStore,
)
from assistants_core.domain.errors import InvalidRunStateError
from assistants_core.domain.models import Run
from assistants_core.domain.status import RunStatus
from assistants_core.schemas.assistants import CreateAssistantRequest
from assistants_core.schemas.messages import CreateMessageRequest
from assistants_core.schemas.runs import CreateRunRequest
from assistants_core.schemas.threads import CreateThreadRequest
from assistants_core.services.assistants import AssistantService
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.services.messages import MessageService
from assistants_core.services.quotas import TenantQuotas
from assistants_core.services.runs import RunService
from assistants_core.services.threads import ThreadService
from gpu_worker.consumer import RunConsumer
from gpu_worker.engines.scripted import ScriptedEngine
from tests.reliability.progress import ProgressWatch
from tests.worker.world import FAST_CONFIG, OWNER, World

THREADS = 40
RUNS_PER_THREAD = 5  # 200 runs
CANCEL_PROBABILITY = 0.2
DUPLICATE_PROBABILITY = 0.3
# The first worker is killed once this share of the runs exists and it is generating at least this many.
KILL_AFTER_RUNS = THREADS * RUNS_PER_THREAD // 3
KILL_WHILE_GENERATING = 2
# The sweeper runs every SWEEP_INTERVAL_SECONDS of real time and the fake clock moves CLOCK_STEP_SECONDS each
# time (time passes ~2x faster than real, far below the lease the heartbeats renew every 0.5 s).
SWEEP_INTERVAL_SECONDS = 0.5
CLOCK_STEP_SECONDS = 1.0
POLL_SECONDS = 1.0
# Waits fail only when no run changed (status or holder) for NO_PROGRESS_SECONDS (reliability/progress.py): a
# run still in_progress under its rescuer past a wall-clock deadline on a loaded machine is not a hang.
MAX_MESSAGE_CHARS = 10_000
# Fewer storage polls per in-flight run than the single-run scenarios use: up to 32 runs share one moto.
SOAK_CONFIG = replace(FAST_CONFIG, heartbeat_seconds=0.5, cancel_poll_seconds=0.25, busy_poll_seconds=0.05)
REQUEUE_AFTER_SECONDS = 60
RUN_EXPIRY_SECONDS = 24 * 3600  # no run expires: expiry has its own tests
LEASE_GRACE_SECONDS = 30


@dataclass(frozen=True)
class RunPlan:
    """What the client does with one run, drawn from the seed before anything starts."""

    text: str
    duplicate_delivery: bool
    cancel_after_seconds: float | None


@dataclass
class Soak:
    """The clients' side: the API's services, and what they created and sent."""

    world: World
    assistant_id: str
    messages: MessageService
    runs: RunService
    user_messages: dict[str, list[str]] = field(default_factory=dict)
    created_runs: list[Run] = field(default_factory=list)
    duplicates_sent: int = 0
    cancels_sent: int = 0
    progress: ProgressWatch = field(default_factory=ProgressWatch)

    async def client(self, thread_id: str, plans: list[RunPlan]) -> None:
        """One user on one thread: message, run, maybe a duplicate delivery and a cancel, wait, repeat."""
        for plan in plans:
            request = CreateMessageRequest.model_validate({"role": "user", "content": plan.text})
            message = await asyncio.to_thread(self.messages.create, OWNER, thread_id, request)
            self.user_messages.setdefault(thread_id, []).append(message.id)
            run_request = CreateRunRequest.model_validate({"assistant_id": self.assistant_id})
            run = await asyncio.to_thread(self.runs.create, OWNER, thread_id, run_request)
            self.created_runs.append(run)
            self.progress.observe(run.id, (run.status, run.lease_owner))
            if plan.duplicate_delivery:  # SQS at-least-once: the same run message a second time
                await asyncio.to_thread(self.world.enqueue, run)
                self.duplicates_sent += 1
            if plan.cancel_after_seconds is not None:
                await asyncio.sleep(plan.cancel_after_seconds)
                with contextlib.suppress(InvalidRunStateError):  # it may have finished already
                    await asyncio.to_thread(self.runs.cancel, OWNER, thread_id, run.id)
                    self.cancels_sent += 1
            await self.until_terminal(run)

    async def until_terminal(self, run: Run) -> None:
        """Poll as an SDK's ``create_and_poll`` would (the next message needs the thread unlocked); fail only
        when no run of the soak changed for ``NO_PROGRESS_SECONDS``."""
        while True:
            current = await asyncio.to_thread(self.runs.retrieve, OWNER, run.thread_id, run.id)
            self.progress.observe(run.id, (current.status, current.lease_owner))
            if current.status.is_terminal:
                return
            self.progress.assert_progressing(
                f"run {run.id} ({current.status}, held by {current.lease_owner})"
            )
            await asyncio.sleep(POLL_SECONDS)


def _soak(world: World, assistant_repo: DynamoAssistantRepository) -> Soak:
    clock = world.clock
    assistant = AssistantService(assistant_repo, clock).create(
        OWNER, CreateAssistantRequest(model="scripted")
    )
    runs = RunService(
        assistant_repo,
        world.runs,
        world.queue,
        clock,
        run_expiry_seconds=RUN_EXPIRY_SECONDS,
        max_message_chars=MAX_MESSAGE_CHARS,
        # Every run holds an active-run slot (never refused: one run per thread at a time) that its end,
        # whoever writes it, must give back.
        admission=TenantQuotas(
            DynamoTenantQuotaStore(world.table),
            DynamoRunSlotStore(world.table),
            clock,
            requests_per_minute=0,
            max_active_runs=THREADS,
            max_open_streams=0,
            stream_lease_seconds=60,
        ),
    )
    messages = MessageService(world.messages, clock, max_message_chars=MAX_MESSAGE_CHARS)
    return Soak(world=world, assistant_id=assistant.id, messages=messages, runs=runs)


def _plans(rng: random.Random, thread_index: int) -> list[RunPlan]:
    return [
        RunPlan(
            text=f"thread {thread_index} message {index} " + " ".join(rng.choices("abcdefg", k=5)),
            duplicate_delivery=rng.random() < DUPLICATE_PROBABILITY,
            cancel_after_seconds=rng.uniform(0.0, 0.1) if rng.random() < CANCEL_PROBABILITY else None,
        )
        for index in range(RUNS_PER_THREAD)
    ]


def _engine() -> ScriptedEngine:
    return ScriptedEngine(token_delay_seconds=0.002, reply_tokens=12)


def _runs_held_by(world: World, runs: list[Run], worker_id: str) -> list[str]:
    held = []
    for run in runs:
        current = world.stored(run)
        if not current.status.is_terminal and current.lease_owner == worker_id:
            held.append(run.id)
    return held


async def _kill_mid_way(world: World, soak: Soak) -> list[str]:
    """Start a worker, kill it (its task cancelled: nothing more is written by it) while it generates, and
    return the runs it still held."""
    engine = _engine()
    doomed = world.consumer(engine, worker_id="worker-doomed", config=SOAK_CONFIG)
    doomed_task = asyncio.create_task(doomed.run_forever())
    await soak.progress.wait_until(
        lambda: (
            len(soak.created_runs) >= KILL_AFTER_RUNS and len(engine.active_requests) >= KILL_WHILE_GENERATING
        ),
        "the first worker to generate",
    )
    doomed_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await doomed_task
    return await asyncio.to_thread(_runs_held_by, world, soak.created_runs, doomed.worker_id)


async def _sweep_forever(maintenance: RunMaintenance, world: World) -> None:
    while True:
        await asyncio.to_thread(maintenance.sweep)
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
        world.clock.advance(CLOCK_STEP_SECONDS)


async def _take_over(world: World, clients: list[asyncio.Task[None]]) -> RunConsumer:
    """The dead worker's leases run out; the sweeper re-enqueues (or ends) what it held and a new worker
    takes over until every client is done. Returns the new worker."""
    world.clock.advance(SOAK_CONFIG.lease_seconds + LEASE_GRACE_SECONDS + 1)
    rescuer = world.consumer(_engine(), worker_id="worker-rescuer", config=SOAK_CONFIG)
    rescuer_task = asyncio.create_task(rescuer.run_forever())
    maintenance = RunMaintenance(
        world.runs,
        world.queue,
        world.clock,
        requeue_after_seconds=REQUEUE_AFTER_SECONDS,
        lease_grace_seconds=LEASE_GRACE_SECONDS,
    )
    sweeper = asyncio.create_task(_sweep_forever(maintenance, world))
    try:
        await asyncio.gather(*clients)
    finally:
        sweeper.cancel()
        rescuer.stop()
        sweep_result, rescue_result = await asyncio.gather(sweeper, rescuer_task, return_exceptions=True)
    assert isinstance(sweep_result, asyncio.CancelledError), sweep_result  # the sweeper never failed
    assert rescue_result is None, rescue_result  # the new worker drained and stopped cleanly
    return rescuer


async def _scenario(world: World, soak: Soak, plans: dict[str, list[RunPlan]]) -> tuple[list[str], int]:
    """(the runs the killed worker held, the runs the new worker finished)."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
    clients = [asyncio.create_task(soak.client(thread_id, plans[thread_id])) for thread_id in plans]
    killed_holding = await _kill_mid_way(world, soak)
    rescuer = await _take_over(world, clients)
    return killed_holding, rescuer.finished_runs


def _assert_thread_settled(world: World, soak: Soak, thread_id: str, runs_by_id: dict[str, Run]) -> None:
    stored_messages = world.messages.list_thread_messages(thread_id)
    user_ids = [message.id for message in stored_messages if message.role == "user"]
    assert user_ids == soak.user_messages[thread_id]  # none lost, none duplicated, in order
    replies = Counter(message.run_id for message in stored_messages if message.role == "assistant")
    assert all(count == 1 for count in replies.values()), replies
    assert all(runs_by_id[run_id].thread_id == thread_id for run_id in replies)
    completed = {
        run.id
        for run in runs_by_id.values()
        if run.thread_id == thread_id and run.status == RunStatus.COMPLETED
    }
    assert completed <= set(replies), "a completed run without its reply"
    assert world.threads.get_thread(OWNER, thread_id).active_run_id is None, "thread lock left behind"


def test_soak_runs_end_terminal_with_one_reply_each_and_no_lock_left(
    world: World, assistant_repo: DynamoAssistantRepository, soak_seed: int
) -> None:
    rng = random.Random(soak_seed)
    soak = _soak(world, assistant_repo)
    threads = ThreadService(world.threads, world.clock, max_message_chars=MAX_MESSAGE_CHARS)
    thread_ids = [threads.create(OWNER, CreateThreadRequest()).id for _ in range(THREADS)]
    plans = {thread_id: _plans(rng, index) for index, thread_id in enumerate(thread_ids)}

    killed_holding, rescued = asyncio.run(_scenario(world, soak, plans))

    stored_runs = [world.stored(run) for run in soak.created_runs]
    statuses = Counter(run.status for run in stored_runs)
    print(
        f"runs {len(stored_runs)}: {dict(sorted(statuses.items()))}; duplicates sent {soak.duplicates_sent}, "
        f"cancels {soak.cancels_sent}, runs held by the killed worker {len(killed_holding)}, "
        f"finished by the new worker {rescued}"
    )
    assert len(stored_runs) == THREADS * RUNS_PER_THREAD
    assert all(run.status.is_terminal for run in stored_runs), statuses
    assert statuses[RunStatus.COMPLETED] > 0 and soak.duplicates_sent > 0 and soak.cancels_sent > 0
    assert killed_holding, "the worker was killed while generating, so it held runs"
    assert rescued > 0
    runs_by_id = {run.id: run for run in stored_runs}
    for thread_id in thread_ids:
        _assert_thread_settled(world, soak, thread_id, runs_by_id)
    assert all(run.quota_slot is not None for run in stored_runs)
    assert DynamoRunSlotStore(world.table).held_run_slots(OWNER) == [], "active-run slot left behind"
