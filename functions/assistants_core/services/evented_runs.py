"""``EventedRunRepository``: the shared transition path that records every status change of a streamed run
as a stream event. It wraps the ``RunRepository`` in each composition root, so the API (create, cancel), the
worker (claim, finish), the sweeper (expire, cancel) and the DLQ consumer (fail) cannot change a streamed run
without its ``thread.run.<status>`` event; the event is appended only after the conditional write succeeded.
A run nobody streams (``Run.streamed`` false) has no event log: the run item is the truth, and a reader that
attaches later marks the run (``mark_streamed``) and gets a catch-up built from the stored run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistants_core.domain.models import Message, Page, PageRequest, Run, RunStep, Thread
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunEventLog, RunRepository
from assistants_core.services.run_events import (
    RunEventPublisher,
    finish_events,
    run_created_events,
    run_event,
    step_event,
)


def with_run_events(runs: RunRepository, log: RunEventLog) -> EventedRunRepository:
    """``runs`` recording its status changes in ``log`` (what every composition root uses)."""
    return EventedRunRepository(runs, RunEventPublisher(log))


class EventedRunRepository:
    def __init__(self, runs: RunRepository, publisher: RunEventPublisher) -> None:
        self._runs = runs
        self._publisher = publisher

    # -- writes that change a run's status: write, then record ---------------------------------------------
    def create_run(
        self, run: Run, additional_messages: list[Message], *, new_thread: Thread | None = None
    ) -> None:
        events = run_created_events(run, new_thread)
        if run.streamed:
            run.stream_log_seq = len(events)  # what the log will hold: the next writer's hint
        self._runs.create_run(run, additional_messages, new_thread=new_thread)
        self._publisher.publish_after_write(run, events, new_log=True)

    def transition_run(
        self,
        run: Run,
        target: RunStatus,
        *,
        fields: Mapping[str, Any] | None = None,
        step_updates: list[RunStep] | None = None,
    ) -> Run:
        updated = self._runs.transition_run(run, target, fields=fields, step_updates=step_updates)
        steps = step_updates or []
        events = [step_event(step, step.status.value, updated.attempts) for step in steps]
        self._publisher.publish_after_write(updated, [*events, run_event(updated)])
        return updated

    def claim_run(
        self, thread_id: str, run_id: str, *, worker_id: str, lease_seconds: int, now: float
    ) -> Run | None:
        claimed = self._runs.claim_run(
            thread_id, run_id, worker_id=worker_id, lease_seconds=lease_seconds, now=now
        )
        if claimed is not None:
            self._publisher.publish_after_write(claimed, [run_event(claimed)])
        return claimed

    def finish_run(
        self,
        run: Run,
        target: RunStatus,
        *,
        fields: Mapping[str, Any],
        worker_id: str,
        message: Message | None,
        steps: list[RunStep],
    ) -> Run:
        finished = self._runs.finish_run(
            run, target, fields=fields, worker_id=worker_id, message=message, steps=steps
        )
        self._publisher.publish_after_write(finished, finish_events(finished, message, steps))
        return finished

    # -- everything else is the wrapped repository's --------------------------------------------------------
    def get_run(self, owner: str, thread_id: str, run_id: str) -> Run:
        return self._runs.get_run(owner, thread_id, run_id)

    def find_run(self, thread_id: str, run_id: str) -> Run | None:
        return self._runs.find_run(thread_id, run_id)

    def list_runs(self, owner: str, thread_id: str, page: PageRequest) -> Page[Run]:
        return self._runs.list_runs(owner, thread_id, page)

    def replace_run_metadata(self, run: Run) -> None:
        self._runs.replace_run_metadata(run)

    def mark_requeued(self, run: Run, *, now: float) -> bool:
        return self._runs.mark_requeued(run, now=now)

    def renew_lease(self, run: Run, *, worker_id: str, lease_seconds: int, now: float) -> bool:
        return self._runs.renew_lease(run, worker_id=worker_id, lease_seconds=lease_seconds, now=now)

    def mark_streamed(self, run: Run, *, log_seq: int = 0) -> Run | None:
        return self._runs.mark_streamed(run, log_seq=log_seq)

    def list_steps(self, owner: str, thread_id: str, run_id: str, page: PageRequest) -> Page[RunStep]:
        return self._runs.list_steps(owner, thread_id, run_id, page)

    def get_step(self, owner: str, thread_id: str, run_id: str, step_id: str) -> RunStep:
        return self._runs.get_step(owner, thread_id, run_id, step_id)

    def list_active_runs(self, *, limit: int = 100) -> list[Run]:
        return self._runs.list_active_runs(limit=limit)
