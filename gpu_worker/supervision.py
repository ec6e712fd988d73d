"""Supervising the runs a consumer generates: the lease heartbeat of each run, and ONE batched status read
of all of them per interval (``StatusWatch``) instead of a read per run.

Every ``cancel_poll_seconds`` the watch reads the watched runs' status, lease owner, expiry and stream mark
in one strongly consistent ``BatchGetItem`` (``ports.RunStatusReader``) and interrupts a run that was
cancelled (-> ``cancelled``), expired, finished elsewhere or claimed by another worker. A run that a reader
started streaming gets its ``stream_log_seq`` set on the consumer's ``Run``, so its reply events are written
from then on. A failed read is skipped: the heartbeat decides when storage trouble costs us a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistants_core.domain.errors import AssistantsError
from assistants_core.domain.models import Run
from assistants_core.domain.status import RunStatus
from assistants_core.ports import (
    Clock,
    ReceivedRun,
    RunQueueConsumer,
    RunRepository,
    RunSnapshot,
    RunStatusReader,
)
from gpu_worker.outcomes import RunOutcome, cancelled_outcome, expired_outcome

logger = logging.getLogger(__name__)

Blocking = Callable[..., Awaitable[Any]]


class RunInterruptedError(Exception):
    """The run must stop generating: cancelled, expired, gone, or our lease was lost."""

    def __init__(self, reason: str, outcome: RunOutcome | None, *, delete_message: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome
        self.delete_message = delete_message


def interruption(
    run: Run, current: RunSnapshot | None, worker_id: str, now: float
) -> RunInterruptedError | None:
    """Why ``run`` must stop, judging by its stored ``current`` state (None: it may go on)."""
    if current is None or current.status.is_terminal:
        return RunInterruptedError("run finished elsewhere", None, delete_message=True)
    if current.lease_owner != worker_id:
        return RunInterruptedError("run claimed by another worker", None, delete_message=False)
    if current.status == RunStatus.CANCELLING:
        return RunInterruptedError("cancelled", cancelled_outcome(now), delete_message=True)
    if current.expires_at is not None and now > current.expires_at:
        return RunInterruptedError("expired", expired_outcome(), delete_message=True)
    return None


class PerRunStatusReader:
    """``RunStatusReader`` over a ``RunRepository``: one consistent ``GetItem`` per run (what the worker did
    before the batched read; benchmarks measure the batched read against it)."""

    def __init__(self, runs: RunRepository) -> None:
        self._runs = runs

    def read_snapshots(self, keys: Sequence[tuple[str, str]]) -> dict[str, RunSnapshot]:
        snapshots: dict[str, RunSnapshot] = {}
        for thread_id, run_id in keys:
            run = self._runs.find_run(thread_id, run_id)
            if run is not None:
                snapshots[run_id] = RunSnapshot(
                    run.status, run.lease_owner, run.expires_at, run.stream_log_seq
                )
        return snapshots


@dataclass
class _Watched:
    run: Run
    interrupted: asyncio.Future[None]


class StatusWatch:
    def __init__(
        self,
        reader: RunStatusReader,
        blocking: Blocking,
        *,
        interval_seconds: float,
        worker_id: str,
        clock: Clock,
    ) -> None:
        self._reader = reader
        self._blocking = blocking
        self._interval = interval_seconds
        self._worker_id = worker_id
        self._clock = clock
        self._watched: dict[str, _Watched] = {}
        self.reads = 0  # batched reads made (one per interval while runs are watched)

    @property
    def watched(self) -> Sequence[Run]:
        return [entry.run for entry in self._watched.values()]

    def watch(self, run: Run) -> asyncio.Future[None]:
        """Watch ``run`` until ``unwatch``; the future fails with ``RunInterruptedError`` if it must stop."""
        interrupted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watched[run.id] = _Watched(run, interrupted)
        return interrupted

    def unwatch(self, run: Run) -> None:
        entry = self._watched.pop(run.id, None)
        if entry is None:
            return
        if entry.interrupted.done():
            with contextlib.suppress(asyncio.CancelledError):
                entry.interrupted.exception()  # retrieved: an interruption nobody waited for is not logged
        else:
            entry.interrupted.cancel()

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._watched:
                await self.check_once()

    async def check_once(self) -> None:
        entries = list(self._watched.values())
        keys = [(entry.run.thread_id, entry.run.id) for entry in entries]
        try:
            snapshots: dict[str, RunSnapshot] = await self._blocking(self._reader.read_snapshots, keys)
        except AssistantsError:
            logger.warning("status check failed", exc_info=True, extra={"worker_id": self._worker_id})
            return
        self.reads += 1
        now = self._clock.now()
        for entry in entries:
            if entry.interrupted.done() or self._watched.get(entry.run.id) is not entry:
                continue
            current = snapshots.get(entry.run.id)
            if current is not None and current.stream_log_seq is not None and not entry.run.streamed:
                entry.run.stream_log_seq = current.stream_log_seq  # a reader attached: log from now on
            stop = interruption(entry.run, current, self._worker_id, now)
            if stop is not None:
                entry.interrupted.set_exception(stop)


class LeaseKeeper:
    """Renews a run's lease and its message's visibility every ``heartbeat_seconds``."""

    def __init__(
        self,
        runs: RunRepository,
        queue: RunQueueConsumer,
        blocking: Blocking,
        *,
        lease_seconds: int,
        heartbeat_seconds: float,
        worker_id: str,
        clock: Clock,
    ) -> None:
        self._runs = runs
        self._queue = queue
        self._blocking = blocking
        self._lease_seconds = lease_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._worker_id = worker_id
        self._clock = clock

    def lease_passed(self, run: Run) -> bool:
        return run.lease_expires_at is None or self._clock.now() >= run.lease_expires_at

    async def heartbeat(self, delivery: ReceivedRun, run: Run) -> None:
        """Renew the lease and the message's visibility. A storage error is waited out: the run is given up
        only when the lease is refused, or when it ran out while storage kept failing."""
        log = {"run_id": run.id, "worker_id": self._worker_id}
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            try:
                renewed = await self._blocking(
                    self._runs.renew_lease,
                    run,
                    worker_id=self._worker_id,
                    lease_seconds=self._lease_seconds,
                    now=self._clock.now(),
                )
            except AssistantsError:
                if self.lease_passed(run):
                    raise RunInterruptedError("lease ran out", None, delete_message=False) from None
                logger.warning("lease renewal failed, retrying", exc_info=True, extra=log)
                continue
            if not renewed:
                raise RunInterruptedError("lease lost", None, delete_message=False)
            try:
                await self._blocking(
                    self._queue.extend_visibility, delivery.receipt_handle, self._lease_seconds
                )
            except AssistantsError:
                logger.warning("visibility extension failed, retrying", exc_info=True, extra=log)
