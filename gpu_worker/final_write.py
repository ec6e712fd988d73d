"""The final write of a run: its outcome (reply, steps, final status) in one conditional transaction
(``RunRepository.finish_run``), retried while the run is still ours.

A run nobody streams is finished without stream events, on the condition that it is still unmarked
(``DynamoRunRepository.finish_run``): a reader that attached since makes the write fail, and it is written
again at once, now with its events, so a late reader never misses the end of the run.
"""

from __future__ import annotations

import asyncio
import logging

from assistants_core.domain.errors import (
    AssistantsError,
    ConflictError,
    InvalidRunStateError,
    RateLimitError,
    StorageError,
)
from assistants_core.domain.models import Run
from assistants_core.domain.status import RunStatus
from assistants_core.ports import Clock, RunRepository
from gpu_worker.backoff import Backoff
from gpu_worker.outcomes import RunOutcome, cancelled_outcome
from gpu_worker.supervision import Blocking, LeaseKeeper

logger = logging.getLogger(__name__)

# A final write refused for one of these may succeed when tried again (the run is still ours).
RETRYABLE_WRITE_ERRORS = (ConflictError, RateLimitError, StorageError)


class FinalWriter:
    def __init__(
        self,
        runs: RunRepository,
        blocking: Blocking,
        lease: LeaseKeeper,
        *,
        worker_id: str,
        clock: Clock,
        retry_seconds: float,
        max_backoff_seconds: float,
        give_up_seconds: float,
    ) -> None:
        self._runs = runs
        self._blocking = blocking
        self._lease = lease
        self._worker_id = worker_id
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._give_up_seconds = give_up_seconds

    async def finish(self, run: Run, outcome: RunOutcome) -> bool:
        """Write the outcome; True when the message may be deleted (written, or the run ended elsewhere).
        A refused write is tried again, backing off, while the stored run is still ours and our lease lasts
        (a transaction conflict, throttling or a storage error may pass), for at most ``give_up_seconds``;
        a run cancelled meanwhile ends ``cancelled`` instead."""
        backoff = Backoff(self._retry_seconds, self._max_backoff_seconds)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._give_up_seconds
        while True:
            try:
                await self._write_outcome(run, outcome)
            except InvalidRunStateError:
                return self._result_dropped(run, await self._read_assuming_unchanged(run))
            except RETRYABLE_WRITE_ERRORS:
                logger.warning("final write refused", exc_info=True, extra={"run_id": run.id})
                current = await self._read_assuming_unchanged(run)
                if current is None or current.status.is_terminal or current.lease_owner != self._worker_id:
                    return self._result_dropped(run, current)
                if self._lease.lease_passed(run) or loop.time() > give_up_at:
                    logger.info("result dropped: the final write kept failing", extra={"run_id": run.id})
                    return False
                if current.streamed and not run.streamed:
                    run.stream_log_seq = current.stream_log_seq  # a reader attached: write with events
                    continue
                if current.status == RunStatus.CANCELLING and outcome.target != RunStatus.CANCELLED:
                    outcome = cancelled_outcome(self._clock.now())
                    continue
                await asyncio.sleep(backoff.next())
                continue
            logger.info(
                "run finished",
                extra={"run_id": run.id, "status": str(outcome.target), "worker_id": self._worker_id},
            )
            return True

    async def _read_assuming_unchanged(self, run: Run) -> Run | None:
        """The stored run; when storage fails too, ``run`` as we hold it (the lease deadline still bounds
        the retries)."""
        try:
            found: Run | None = await self._blocking(self._runs.find_run, run.thread_id, run.id)
        except AssistantsError:
            return run
        return found

    def _result_dropped(self, run: Run, current: Run | None) -> bool:
        """The run ended elsewhere (True: its message may go) or another worker holds it (False)."""
        if current is None or current.status.is_terminal:
            logger.info("result dropped: run already finished", extra={"run_id": run.id})
            return True
        logger.info("result dropped: lease lost", extra={"run_id": run.id, "holder": current.lease_owner})
        return False

    async def _write_outcome(self, run: Run, outcome: RunOutcome) -> None:
        await self._blocking(
            self._runs.finish_run,
            run,
            outcome.target,
            fields=outcome.fields,
            worker_id=self._worker_id,
            message=outcome.message,
            steps=outcome.steps,
        )
