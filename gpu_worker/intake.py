"""Receiving and claiming runs, and deleting their messages when they are done.

- ``Intake.claim_batch`` claims every run of a received batch concurrently (one conditional update each,
  side by side on the worker's thread pool) instead of one after another; a run held elsewhere or already
  finished is settled (``settle_unclaimable``).
- ``MessageDeleter`` deletes finished runs' messages in batches of up to 10 (``DeleteMessageBatch``): runs
  that finish within ``linger_seconds`` of each other share one request. An entry SQS reports failed is
  deleted again on its own; a message that still is not deleted comes back after its visibility timeout and
  is then dropped as the message of a finished run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from assistants_core.domain.errors import AssistantsError
from assistants_core.domain.models import Run
from assistants_core.domain.status import RunStatus
from assistants_core.ports import Clock, ReceivedRun, RunQueueConsumer, RunRepository
from gpu_worker.supervision import Blocking

logger = logging.getLogger(__name__)

SQS_MAX_BATCH = 10


class MessageDeleter:
    def __init__(
        self,
        queue: RunQueueConsumer,
        blocking: Blocking,
        *,
        linger_seconds: float = 0.02,
        batched: bool = True,
    ) -> None:
        self._queue = queue
        self._blocking = blocking
        self._linger_seconds = linger_seconds
        self._batched = batched
        self._pending: list[tuple[str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def delete(self, receipt_handle: str) -> None:
        """Delete one message (batched with others); failures are logged, never raised."""
        if not self._batched:
            await self._delete_one(receipt_handle)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((receipt_handle, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        await asyncio.shield(done)

    async def close(self) -> None:
        """Wait until every pending delete was sent."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._linger_seconds)
        while self._pending:
            batch, self._pending = self._pending[:SQS_MAX_BATCH], self._pending[SQS_MAX_BATCH:]
            handles = [handle for handle, _ in batch]
            try:
                failed: Sequence[str] = await self._blocking(self._queue.delete_run_messages, handles)
            except AssistantsError:
                logger.warning("batched delete failed; deleting one by one", exc_info=True)
                failed = handles
            for handle in failed:
                await self._delete_one(handle)
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _delete_one(self, receipt_handle: str) -> None:
        try:
            await self._blocking(self._queue.delete_run_message, receipt_handle)
        except AssistantsError:
            logger.warning("message delete failed; it comes back and is dropped then", exc_info=True)


class Intake:
    def __init__(
        self,
        queue: RunQueueConsumer,
        runs: RunRepository,
        blocking: Blocking,
        deleter: MessageDeleter,
        *,
        worker_id: str,
        lease_seconds: int,
        clock: Clock,
        concurrent_claims: bool = True,
    ) -> None:
        self._queue = queue
        self._runs = runs
        self._blocking = blocking
        self._deleter = deleter
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._concurrent_claims = concurrent_claims

    async def receive(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedRun]:
        received: list[ReceivedRun] = await self._blocking(
            self._queue.receive_runs, max_messages=min(SQS_MAX_BATCH, max_messages), wait_seconds=wait_seconds
        )
        return received

    async def hand_back(self, received: Sequence[ReceivedRun]) -> None:
        """Messages received but not to be claimed (the consumer is stopping): visible again at once."""
        for delivery in received:
            logger.info("message handed back: consumer stopping", extra={"run_id": delivery.ref.run_id})
            try:
                await self._blocking(self._queue.extend_visibility, delivery.receipt_handle, 0)
            except AssistantsError:
                logger.warning("hand-back failed; the message returns after its visibility timeout")

    async def claim_batch(
        self, received: Sequence[ReceivedRun]
    ) -> tuple[list[tuple[ReceivedRun, Run]], bool]:
        """The claimed runs with their deliveries, and whether storage answered for every message (a message
        whose claim failed comes back when its visibility runs out)."""
        if self._concurrent_claims:
            results = await asyncio.gather(*(self.claim(d) for d in received), return_exceptions=True)
        else:
            results = []
            for delivery in received:
                try:
                    results.append(await self.claim(delivery))
                except AssistantsError as error:
                    results.append(error)
        claimed: list[tuple[ReceivedRun, Run]] = []
        answered = True
        for delivery, result in zip(received, results, strict=True):
            if isinstance(result, AssistantsError):
                logger.error(
                    "claim failed, the message comes back later",
                    exc_info=result,
                    extra={"run_id": delivery.ref.run_id, "worker_id": self._worker_id},
                )
                answered = False
            elif isinstance(result, BaseException):
                raise result
            elif result is not None:
                claimed.append((delivery, result))
        return claimed, answered

    async def claim(self, delivery: ReceivedRun) -> Run | None:
        """The claimed run, or None when it cannot be claimed (its message settled)."""
        ref = delivery.ref
        now = self._clock.now()
        run: Run | None = await self._blocking(
            self._runs.claim_run,
            ref.thread_id,
            ref.run_id,
            worker_id=self._worker_id,
            lease_seconds=self._lease_seconds,
            now=now,
        )
        if run is None:
            await self.settle_unclaimable(delivery, now)
            return None
        log = {"run_id": run.id, "thread_id": run.thread_id, "worker_id": self._worker_id}
        logger.info("run claimed", extra={**log, "attempt": run.attempts})
        return run

    async def settle_unclaimable(self, delivery: ReceivedRun, now: float) -> None:
        """The claim failed: a finished (or deleted) run's message is dropped; a held run's message comes
        back when that holder's lease would expire, in case the holder dies."""
        ref = delivery.ref
        current: Run | None = await self._blocking(self._runs.find_run, ref.thread_id, ref.run_id)
        if current is None or current.status.is_terminal or current.status == RunStatus.REQUIRES_ACTION:
            # A run waiting for tool outputs is re-enqueued by submit_tool_outputs: this message is stale.
            logger.info("dropping message of finished run", extra={"run_id": ref.run_id})
            await self._deleter.delete(delivery.receipt_handle)
            return
        if current.lease_owner == self._worker_id and current.status == RunStatus.IN_PROGRESS:
            # A duplicate of a run this worker is generating: its own delivery covers it.
            await self._deleter.delete(delivery.receipt_handle)
            return
        lease_left = (current.lease_expires_at or now) - now
        if current.status == RunStatus.CANCELLING and lease_left <= 0:
            # Its worker died after the cancel: nothing is left to generate; the sweeper ends the run
            # ``cancelled`` (``RunMaintenance.sweep``); deferring would push it into the dead-letter queue.
            logger.info("dropping message of a cancelled run", extra={"run_id": ref.run_id})
            await self._deleter.delete(delivery.receipt_handle)
            return
        delay = max(1, min(int(lease_left) + 1, self._lease_seconds))
        logger.info(
            "run held elsewhere, message deferred",
            extra={"run_id": ref.run_id, "status": str(current.status), "defer_seconds": delay},
        )
        await self._blocking(self._queue.extend_visibility, delivery.receipt_handle, delay)
