"""The run queue consumer: receive, claim, generate many runs concurrently on one engine, finish.

Pure Python over the ports (no Modal, no vLLM, no boto3): the local worker, the Modal GPU class and the tests
all drive this same class. Storage and queue calls are blocking (boto3), so they run on the consumer's own
thread pool (sized to its concurrency; ``wiring`` gives botocore as many connections) and never stall the
event loop that streams tokens for every other run. The parts live in their own modules:
- ``receive_loop``: long polls (also while runs are in flight), starting claimed runs, stopping;
- ``intake``: receiving, claiming a received batch concurrently, batched message deletes;
- ``supervision``: each run's lease heartbeat and ONE batched status read of all runs per interval;
- ``run_turns``: a claimed run's turns: prompt, engine stream, file_search turns in between;
- ``final_write``: the outcome's conditional transaction and its retries;
- ``reply_events``: stream events of a reply, only for runs someone streams.

Safety rests on the repository's conditional writes, not on this process staying alive:
- ``claim_run`` lets exactly one worker hold a run (a duplicate delivery finds it held or finished);
- the lease is renewed every ``heartbeat_seconds`` together with the SQS visibility, so a dead worker's run is
  re-claimed by another after the lease expires;
- ``finish_run`` writes the reply, its run step and the final status in ONE transaction that requires our
  lease and a reply id that does not exist yet, so a lost lease or a retry can never write two replies;
- the SQS message is deleted only after that final write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from assistants_core.domain.errors import AssistantsError
from assistants_core.domain.models import Run
from assistants_core.ports import (
    Clock,
    MessageRepository,
    ReceivedRun,
    RunQueueConsumer,
    RunRepository,
    RunStatusReader,
)
from assistants_core.services.run_events import RunEventPublisher
from gpu_worker.consumer_config import ConsumerConfig, pool_size
from gpu_worker.engines.base import Engine
from gpu_worker.file_search import (
    FileSearcher,
)
from gpu_worker.file_search_turns import FileSearchTurns
from gpu_worker.final_write import FinalWriter
from gpu_worker.intake import Intake, MessageDeleter
from gpu_worker.outcomes import (
    RunOutcome,
    expired_outcome,
)
from gpu_worker.receive_loop import ReceiveLoop
from gpu_worker.run_turns import RunTurns
from gpu_worker.supervision import LeaseKeeper, PerRunStatusReader, RunInterruptedError, StatusWatch

logger = logging.getLogger(__name__)
T = TypeVar("T")


__all__ = ["ConsumerConfig", "RunConsumer", "pool_size"]


class RunConsumer(ReceiveLoop):
    def __init__(
        self,
        queue: RunQueueConsumer,
        runs: RunRepository,
        messages: MessageRepository,
        engine: Engine,
        *,
        events: RunEventPublisher,
        config: ConsumerConfig,
        clock: Clock,
        worker_id: str,
        statuses: RunStatusReader | None = None,
        file_searcher: FileSearcher | None = None,
    ) -> None:
        self._queue = queue
        self._runs = runs
        self._engine = engine
        self._config = config
        self._clock = clock
        self.worker_id = worker_id
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._abandoned_poll: asyncio.Future[list[ReceivedRun]] | None = None
        self.finished_runs = 0
        self._deleter = MessageDeleter(
            queue, self._blocking, linger_seconds=config.delete_linger_seconds, batched=config.batched_deletes
        )
        self._intake = Intake(
            queue,
            runs,
            self._blocking,
            self._deleter,
            worker_id=worker_id,
            lease_seconds=config.lease_seconds,
            clock=clock,
            concurrent_claims=config.concurrent_claims,
        )
        self._watch = StatusWatch(
            statuses if statuses is not None and config.batched_status_reads else PerRunStatusReader(runs),
            self._blocking,
            interval_seconds=config.cancel_poll_seconds,
            worker_id=worker_id,
            clock=clock,
        )
        self._lease = LeaseKeeper(
            runs,
            queue,
            self._blocking,
            lease_seconds=config.lease_seconds,
            heartbeat_seconds=config.heartbeat_seconds,
            worker_id=worker_id,
            clock=clock,
        )
        self._final = FinalWriter(
            runs,
            self._blocking,
            self._lease,
            worker_id=worker_id,
            clock=clock,
            retry_seconds=config.busy_poll_seconds,
            max_backoff_seconds=config.max_backoff_seconds,
            give_up_seconds=config.lease_seconds,
        )
        searches = (
            FileSearchTurns(
                file_searcher,
                runs,
                events,
                self._blocking,
                worker_id=worker_id,
                clock=clock,
                ingestion_wait_seconds=config.file_search_ingestion_wait_seconds,
            )
            if file_searcher is not None
            else None
        )
        self._turns = RunTurns(
            runs,
            messages,
            engine,
            events=events,
            config=config,
            clock=clock,
            blocking=self._blocking,
            watch=self._watch,
            searches=searches,
        )

    @property
    def status_reads(self) -> int:
        """Batched status reads made so far (one per interval while runs generate)."""
        return self._watch.reads

    # -- the receive loop -----------------------------------------------------------------------------------
    async def run_forever(self) -> None:
        """Consume until ``stop()``; then stop receiving and let in-flight runs drain."""
        await self._serve(idle_exit_seconds=None, max_seconds=None)

    async def run_until_idle(
        self, idle_exit_seconds: float = 0.0, *, max_seconds: float | None = None
    ) -> None:
        """Consume until no run is in flight and the queue stayed empty for ``idle_exit_seconds``, or until
        ``max_seconds`` passed (then stop receiving and drain, as after ``stop()``)."""
        await self._serve(idle_exit_seconds=idle_exit_seconds, max_seconds=max_seconds)

    def receive_window_seconds(self, time_limit_seconds: float, *, margin_seconds: float = 60.0) -> float:
        """How long a consumer that is killed after ``time_limit_seconds`` may receive: the drain (and a
        margin for the final writes) must fit before the kill."""
        return max(0.0, time_limit_seconds - self._config.drain_seconds - margin_seconds)

    def stop(self) -> None:
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def _serve(self, idle_exit_seconds: float | None, max_seconds: float | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if max_seconds is None else loop.time() + max_seconds
        watching = asyncio.create_task(self._watch.run_forever(), name="status-watch")
        try:
            try:
                await self._receive_loop(idle_exit_seconds, deadline)
            except asyncio.CancelledError:
                await self._abandon()
                raise
            await self._drain()
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            await self._deleter.close()
            await self._hand_back_abandoned_poll()

    async def _drain(self) -> None:
        """Graceful stop: in-flight runs get ``drain_seconds`` to finish; the rest are abandoned."""
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self._config.drain_seconds)
        await self._abandon()

    async def _abandon(self) -> None:
        """Stop every in-flight run without writing anything: its lease expires and another worker
        re-claims it (what happens anyway when the process dies)."""
        pending = list(self._in_flight)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function`` on the consumer's thread pool (the loop's default executor when turned off)."""
        if not self._config.own_thread_pool:
            return await asyncio.to_thread(function, *args, **kwargs)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                pool_size(self._config.max_concurrent_runs), thread_name_prefix=f"{self.worker_id}-io"
            )
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    # -- one run ---------------------------------------------------------------------------------------------
    async def _execute(self, delivery: ReceivedRun, run: Run) -> None:
        # The heartbeat keeps the lease (and the message hidden) until the final write is done.
        heartbeat = asyncio.create_task(self._lease.heartbeat(delivery, run))
        try:
            await self._execute_holding_lease(delivery, run, heartbeat)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _execute_holding_lease(
        self, delivery: ReceivedRun, run: Run, heartbeat: asyncio.Task[None]
    ) -> None:
        log = {"run_id": run.id, "thread_id": run.thread_id, "worker_id": self.worker_id}
        try:
            if run.expires_at is not None and self._clock.now() > run.expires_at:
                outcome: RunOutcome | None = expired_outcome()
            else:
                outcome = await self._generate_supervised(run, heartbeat)
            delete_message = True
            if outcome is not None:
                delete_message = await self._final.finish(run, outcome)
        except RunInterruptedError as interrupted:
            logger.info("run interrupted", extra={**log, "reason": interrupted.reason})
            delete_message = interrupted.delete_message
            if interrupted.outcome is not None:
                delete_message = await self._final.finish(run, interrupted.outcome)
        except AssistantsError:
            # Storage trouble: keep the message; the lease expires and the run is retried.
            logger.exception("run left for retry after a storage error", extra=log)
            return
        except Exception:
            logger.exception("run left for retry after an unexpected error", extra=log)
            return
        if delete_message:
            await self._deleter.delete(delivery.receipt_handle)
        self.finished_runs += 1

    async def _generate_supervised(self, run: Run, heartbeat: asyncio.Task[None]) -> RunOutcome | None:
        """Generate while the ``heartbeat`` keeps the lease and the status watch looks for cancellation."""
        request_ids = [f"{run.id}-{run.attempts}"]  # one per turn generated in this claim, newest last
        generation = asyncio.create_task(self._turns.generate(request_ids, run))
        interrupted = self._watch.watch(run)
        try:
            waited: list[asyncio.Future[Any]] = [generation, heartbeat, interrupted]
            done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            if generation in done:
                return generation.result()
            generation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._engine.abort(request_ids[-1])
            for stopper in (interrupted, heartbeat):
                if stopper in done:
                    stopper.result()  # raises the RunInterruptedError that stopped the run
            raise AssertionError("a watcher ended without interrupting the run")
        finally:
            self._watch.unwatch(run)
            generation.cancel()
            await asyncio.gather(generation, return_exceptions=True)
