"""Keeping runs from getting stuck: the scheduled sweep and the dead-letter consumer's use case.

The sweep looks at every active run (a sparse index, soonest ``expires_at`` first) and
- expires runs past ``expires_at`` (the terminal transition also releases the thread lock; a run waiting
  for tool outputs has its pending ``tool_calls`` step expired with it);
- re-enqueues queued runs older than ``requeue_after_seconds`` whose queue message may have been lost;
- re-enqueues in_progress runs whose worker lease expired more than ``lease_grace_seconds`` ago, so another
  worker re-claims them;
- ends ``cancelled`` the cancelling runs whose worker died before it could (lease expired).
Re-enqueueing is idempotent: a duplicate message finds the run claimed or finished and is dropped.

A message that reached the dead-letter queue marks its run ``failed`` unless the run already ended or a live
worker still holds it; a run the user cancelled ends ``cancelled`` (as the sweep ends it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from assistants_core.domain.errors import ConflictError, InvalidRunStateError
from assistants_core.domain.models import Run, RunStep
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.ports import Clock, RunQueue, RunRef, RunRepository
from assistants_core.services.tool_waits import stopped_wait_steps

logger = logging.getLogger(__name__)

DEAD_LETTER_ERROR = {"code": "server_error", "message": "The run could not be processed."}
DEFAULT_SWEEP_LIMIT = 100


@dataclass(slots=True)
class SweepReport:
    expired: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"expired": self.expired, "requeued": self.requeued, "cancelled": self.cancelled}


class RunMaintenance:
    def __init__(
        self,
        runs: RunRepository,
        queue: RunQueue,
        clock: Clock,
        *,
        requeue_after_seconds: int,
        lease_grace_seconds: int = 30,
        sweep_limit: int = DEFAULT_SWEEP_LIMIT,
    ) -> None:
        self._runs = runs
        self._queue = queue
        self._clock = clock
        self._requeue_after_seconds = requeue_after_seconds
        self._lease_grace_seconds = lease_grace_seconds
        self._sweep_limit = sweep_limit

    # -- the scheduled sweep --------------------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        report = SweepReport()
        now = self._clock.now()
        for run in self._runs.list_active_runs(limit=self._sweep_limit):
            if run.expires_at is not None and now > run.expires_at:
                waiting = stopped_wait_steps(self._runs, run, StepStatus.EXPIRED, int(now))
                if self._end(run, RunStatus.EXPIRED, {}, steps=waiting):
                    report.expired.append(run.id)
            elif run.status == RunStatus.CANCELLING and self._lease_dead(run, now):
                if self._end_cancelled(run, now):
                    report.cancelled.append(run.id)
            elif self._needs_requeue(run, now) and self._runs.mark_requeued(run, now=now):
                self._queue.enqueue_run(RunRef(thread_id=run.thread_id, run_id=run.id))
                report.requeued.append(run.id)
        logger.info("sweep done", extra=report.as_dict())
        return report

    def _needs_requeue(self, run: Run, now: float) -> bool:
        """A queued run whose message may be lost, or an in_progress run whose worker died; not one re-sent
        within ``requeue_after_seconds`` (a backlog must not gain a message per run on every sweep)."""
        if run.enqueued_at is not None and now - run.enqueued_at <= self._requeue_after_seconds:
            return False
        if run.status == RunStatus.QUEUED:
            return now - run.created_at > self._requeue_after_seconds
        if run.status == RunStatus.IN_PROGRESS:
            return self._lease_dead(run, now)
        return False

    def _lease_dead(self, run: Run, now: float) -> bool:
        return run.lease_expires_at is None or now - run.lease_expires_at > self._lease_grace_seconds

    def _end_cancelled(self, run: Run, now: float) -> bool:
        return self._end(run, RunStatus.CANCELLED, {"cancelled_at": int(now)})

    def _end(
        self, run: Run, target: RunStatus, fields: dict[str, object], *, steps: list[RunStep] | None = None
    ) -> bool:
        """Conditional terminal transition (with the run's ``steps`` ending with it); False when the run
        moved on meanwhile (someone else won)."""
        try:
            self._runs.transition_run(run, target, fields=fields, step_updates=steps)
        except (InvalidRunStateError, ConflictError):
            logger.info("run changed during the sweep", extra={"run_id": run.id, "target": str(target)})
            return False
        logger.info("run ended by the sweeper", extra={"run_id": run.id, "status": str(target)})
        return True

    # -- the dead-letter queue ------------------------------------------------------------------------------
    def fail_dead_letter(self, ref: RunRef) -> bool:
        """Mark the run of a dead message ``failed`` (``cancelled`` when the user cancelled it); True when
        this call ended it."""
        run = self._runs.find_run(ref.thread_id, ref.run_id)
        if run is None or run.status.is_terminal:
            return False
        now = self._clock.now()
        held_by_live_worker = run.status in {RunStatus.IN_PROGRESS, RunStatus.CANCELLING} and not (
            run.lease_expires_at is None or run.lease_expires_at < now
        )
        if held_by_live_worker:
            logger.info("dead letter of a run a worker still holds", extra={"run_id": run.id})
            return False
        if run.status == RunStatus.CANCELLING:
            return self._end_cancelled(run, now)
        fields = {"failed_at": int(now), "last_error": dict(DEAD_LETTER_ERROR)}
        return self._end(run, RunStatus.FAILED, fields)
