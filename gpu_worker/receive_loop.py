"""The consumer's receive loop (``RunConsumer`` inherits it): long-poll the queue for as many runs as there
are free slots, also while runs are in flight (the poll waits in a pool thread, the runs go on), claim each
received batch concurrently (``intake``), start the claimed runs, back off after storage errors, stop on
``stop()`` or a deadline, and hand back what a poll brings after that (visible again at once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from assistants_core.domain.errors import AssistantsError
from assistants_core.domain.models import Run
from assistants_core.ports import ReceivedRun
from gpu_worker.backoff import Backoff
from gpu_worker.consumer_config import ConsumerConfig
from gpu_worker.intake import Intake

logger = logging.getLogger(__name__)


class ReceiveLoop:
    """What the loop needs of the consumer it is part of."""

    worker_id: str
    _config: ConsumerConfig
    _intake: Intake
    _in_flight: set[asyncio.Task[None]]
    _stopping: asyncio.Event
    _abandoned_poll: asyncio.Future[list[ReceivedRun]] | None

    def _execute(self, delivery: ReceivedRun, run: Run) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    async def _hand_back_abandoned_poll(self) -> None:
        """A long poll left running at ``stop()``: its messages are made visible again at once, not hidden
        from other consumers until their visibility timeout."""
        polling, self._abandoned_poll = self._abandoned_poll, None
        if polling is None:
            return
        try:
            received = await polling
        except AssistantsError:
            return
        await self._intake.hand_back(received)

    def _receiving(self, deadline: float | None) -> bool:
        """False once ``stop()`` was called or the receive deadline passed."""
        if self._stopping.is_set():
            return False
        return deadline is None or asyncio.get_running_loop().time() < deadline

    async def _receive_loop(self, idle_exit_seconds: float | None, deadline: float | None) -> None:
        idle_since: float | None = None
        loop = asyncio.get_running_loop()
        backoff = Backoff(self._config.busy_poll_seconds, self._config.max_backoff_seconds)
        while self._receiving(deadline):
            left = None if deadline is None else max(0.0, deadline - loop.time())
            free_slots = self._config.max_concurrent_runs - len(self._in_flight)
            if free_slots <= 0:
                await asyncio.wait(self._in_flight, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                continue
            busy = bool(self._in_flight) and not self._config.long_poll_while_busy
            wait_seconds = 0 if busy else self._config.receive_wait_seconds
            if left is not None:
                wait_seconds = min(wait_seconds, int(left))
            try:
                received = await self._receive_unless_stopped(free_slots, wait_seconds)
            except AssistantsError:
                # Queue trouble: in-flight runs go on generating; the loop tries again after a while.
                logger.exception("receive failed, backing off", extra={"worker_id": self.worker_id})
                await self._sleep_unless_stopped(backoff.next())
                continue
            if received is None:
                break  # stopped while long polling: whatever that poll brings is left for others
            if not await self._accept_batch(received, deadline):
                await self._sleep_unless_stopped(backoff.next())
                continue
            backoff.reset()
            if received:
                idle_since = None
                continue
            if self._in_flight:
                idle_since = None
                if wait_seconds == 0:
                    await asyncio.wait(
                        self._in_flight,
                        timeout=self._config.busy_poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                continue
            idle_since = loop.time() if idle_since is None else idle_since
            if idle_exit_seconds is not None and loop.time() - idle_since >= idle_exit_seconds:
                logger.info("queue idle, consumer exits", extra={"worker_id": self.worker_id})
                return
            if wait_seconds == 0:
                await asyncio.sleep(self._config.busy_poll_seconds)
        logger.info("consumer stops receiving", extra={"worker_id": self.worker_id})

    async def _receive_unless_stopped(self, free_slots: int, wait_seconds: int) -> list[ReceivedRun] | None:
        """One (long) poll; None when ``stop()`` came first. While it waits, in-flight runs go on."""
        polling = asyncio.ensure_future(
            self._intake.receive(max_messages=free_slots, wait_seconds=wait_seconds)
        )
        if wait_seconds == 0:
            return await polling
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([polling, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if polling.done():
            return polling.result()
        self._abandoned_poll = polling  # what it still brings is handed back when the consumer ends
        return None

    async def _accept_batch(self, received: list[ReceivedRun], deadline: float | None) -> bool:
        """Claim the received runs (concurrently) and start them; False when storage failed for one of them
        (its message comes back when its visibility runs out). A batch that arrives after ``stop()`` (or
        the deadline) is handed back unclaimed (visible again at once), for another consumer."""
        if received and not self._receiving(deadline):
            await self._intake.hand_back(received)
            return True
        claimed, answered = await self._intake.claim_batch(received)
        for delivery, run in claimed:
            task = asyncio.create_task(self._execute(delivery, run), name=f"run:{run.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return answered

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
