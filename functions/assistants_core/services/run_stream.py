"""Streaming a run's events (``stream: true``): follow the run's event log with a cursor until the run
closes (a terminal status or ``requires_action``).

- The log is read every ``poll_seconds``; the run itself every ``run_check_seconds``, so a run that ended
  without its event (its final event write failed, or a path outside the event log ended it) still closes
  the stream, with a ``thread.run.<status>`` event built from the stored run (``seq`` 0: not in the log).
- ``after_seq`` resumes after the last event a client saw (SSE ``Last-Event-ID``): nothing twice, nothing
  skipped, since the log is append-only and sequence numbers are dense.
- Message and step events of an attempt older than the newest attempt seen are dropped (a worker that lost
  its lease may still be appending while the run's next attempt restarts the reply).
- A stream never outlives ``max_stream_seconds`` (Lambda's 15-minute limit); runs expire well before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from assistants_core.domain import ids
from assistants_core.domain.run_events import STREAM_CLOSING_STATUSES, RunEvent
from assistants_core.ports import RunEventLog, RunRepository
from assistants_core.schemas.runs import CreateRunRequest, CreateThreadAndRunRequest
from assistants_core.services.run_events import run_event
from assistants_core.services.runs import RunService
from assistants_core.services.validation import require_id

READ_BATCH = 100


class RunStreamService:
    def __init__(
        self,
        runs: RunService,
        run_repository: RunRepository,
        log: RunEventLog,
        *,
        poll_seconds: float = 0.1,
        run_check_seconds: float = 1.0,
        max_stream_seconds: float = 840.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._runs = runs
        self._run_repository = run_repository
        self._log = log
        self._poll_seconds = poll_seconds
        self._run_check_seconds = run_check_seconds
        self._max_stream_seconds = max_stream_seconds
        self._sleep = sleep

    def create_run(self, owner: str, thread_id: str, request: CreateRunRequest) -> AsyncIterator[RunEvent]:
        """Create the run (errors raise here, before any byte is streamed), then stream it from the start."""
        run = self._runs.create(owner, thread_id, request)
        return self._follow(run.thread_id, run.id, after_seq=0)

    def create_thread_and_run(
        self, owner: str, request: CreateThreadAndRunRequest
    ) -> AsyncIterator[RunEvent]:
        """``POST /threads/runs`` streamed: ``thread.created`` first, then the run's events."""
        run = self._runs.create_thread_and_run(owner, request)
        return self._follow(run.thread_id, run.id, after_seq=0)

    def stream_after(
        self, owner: str, thread_id: str, run_id: str, after_seq: int
    ) -> AsyncIterator[RunEvent]:
        """The events of an existing run after ``after_seq`` (404 for an unknown or foreign run)."""
        self._runs.retrieve(owner, thread_id, run_id)
        return self._follow(thread_id, run_id, after_seq=max(0, after_seq))

    def cursor(self, thread_id: str, run_id: str) -> int:
        """The newest sequence number: ``stream_after(..., cursor)`` streams only what happens from now on."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        return self._log.last_seq(thread_id, run_id)

    async def _follow(self, thread_id: str, run_id: str, *, after_seq: int) -> AsyncIterator[RunEvent]:
        loop = asyncio.get_running_loop()
        cursor, newest_attempt = after_seq, 0
        deadline = loop.time() + self._max_stream_seconds
        next_run_check = loop.time() + self._run_check_seconds
        while loop.time() < deadline:
            events = await asyncio.to_thread(
                self._log.read, thread_id, run_id, after_seq=cursor, limit=READ_BATCH
            )
            for event in events:
                cursor = event.seq
                if event.is_attempt_scoped and event.attempt < newest_attempt:
                    continue
                newest_attempt = max(newest_attempt, event.attempt)
                yield event
                if event.closing_status is not None:
                    return
            if len(events) == READ_BATCH:
                continue
            if loop.time() >= next_run_check:
                closed, last_event = await self._check_run(thread_id, run_id, cursor)
                if closed:
                    if last_event is not None:
                        yield last_event
                    return
                next_run_check = loop.time() + self._run_check_seconds
            await self._sleep(self._poll_seconds)

    async def _check_run(self, thread_id: str, run_id: str, cursor: int) -> tuple[bool, RunEvent | None]:
        """(whether the stream must close now, the event to send before closing). A closed run with nothing
        logged after ``cursor`` closes with its event built from the stored run (``seq`` 0: not in the log);
        with something logged, the stream reads on and closes on the logged event. A deleted run closes."""
        run = await asyncio.to_thread(self._run_repository.find_run, thread_id, run_id)
        if run is None:
            return True, None
        if run.status not in STREAM_CLOSING_STATUSES:
            return False, None
        if await asyncio.to_thread(self._log.read, thread_id, run_id, after_seq=cursor, limit=1):
            return False, None
        closing = run_event(run)
        return True, RunEvent(seq=0, event=closing.event, data=closing.data, attempt=closing.attempt)
