"""Streaming a run's events (``stream: true``): follow the run's event log with a cursor until the run
closes (a terminal status, or a ``requires_action`` with nothing logged after it: an earlier tool turn the run
went on from does not end a stream that starts before it).

- The log is read every ``poll_seconds``; the run itself every ``run_check_seconds``, so a run that ended
  without its event (its final event write failed, or a path outside the event log ended it) still closes
  the stream, with a ``thread.run.<status>`` event built from the stored run (``seq`` 0: not in the log).
- ``after_seq`` resumes after the last event a client saw (SSE ``Last-Event-ID``): nothing twice, nothing
  skipped, since the log is append-only and sequence numbers are dense. Resuming after the closing event
  itself ends the stream at once, without repeating it.
- Message and step events of an attempt older than the newest attempt seen (counting the event at
  ``after_seq`` on a resume) are dropped (a worker that lost its lease may still be appending while the run's
  next attempt restarts the reply).
- A stream never outlives ``max_stream_seconds`` (Lambda's 15-minute limit; far less behind API Gateway,
  ``ASSISTANTS_STREAM_MAX_SECONDS``); then it ends and the client resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from assistants_core.domain import ids
from assistants_core.domain.models import Run
from assistants_core.domain.run_events import STREAM_CLOSING_STATUSES, RunEvent
from assistants_core.domain.status import RunStatus
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
        """The events of an existing run after ``after_seq`` (404 for an unknown or foreign run). A run nobody
        streamed yet has no event log: it is marked streamed (its changes are logged from then on) and the
        stream starts with its status event as marked (the catch-up)."""
        run = self._runs.retrieve(owner, thread_id, run_id)
        catch_up = None if run.streamed else self._run_repository.mark_streamed(run)
        return self._follow(thread_id, run_id, after_seq=max(0, after_seq), catch_up=catch_up)

    def cursor(self, thread_id: str, run_id: str) -> int:
        """The newest sequence number: ``stream_after(..., cursor)`` streams only what happens from now on."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        return self._log.last_seq(thread_id, run_id)

    async def _follow(
        self, thread_id: str, run_id: str, *, after_seq: int, catch_up: Run | None = None
    ) -> AsyncIterator[RunEvent]:
        if catch_up is not None:
            caught = run_event(catch_up)
            yield RunEvent(seq=0, event=caught.event, data=caught.data, attempt=caught.attempt)
            if catch_up.status in STREAM_CLOSING_STATUSES:
                return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_stream_seconds
        next_run_check = loop.time() + self._run_check_seconds
        cursor, last_seen = after_seq, await self._event_at(thread_id, run_id, after_seq)
        newest_attempt = last_seen.attempt if last_seen is not None else 0
        if last_seen is not None and await self._closes_stream(thread_id, run_id, last_seen, more_read=False):
            return  # the client already has the event that closed its stream
        while loop.time() < deadline:
            events = await asyncio.to_thread(
                self._log.read, thread_id, run_id, after_seq=cursor, limit=READ_BATCH
            )
            for index, event in enumerate(events):
                cursor, last_seen = event.seq, event
                if event.is_attempt_scoped and event.attempt < newest_attempt:
                    continue
                newest_attempt = max(newest_attempt, event.attempt)
                yield event
                if await self._closes_stream(thread_id, run_id, event, more_read=index + 1 < len(events)):
                    return
            if len(events) == READ_BATCH:
                continue
            if loop.time() >= next_run_check:
                closed, last_event = await self._check_run(thread_id, run_id, cursor, last_seen)
                if closed:
                    if last_event is not None:
                        yield last_event
                    return
                next_run_check = loop.time() + self._run_check_seconds
            await self._sleep(self._poll_seconds)

    async def _event_at(self, thread_id: str, run_id: str, seq: int) -> RunEvent | None:
        """The logged event ``seq`` (None for 0 or past the log's end)."""
        if seq <= 0:
            return None
        events = await asyncio.to_thread(self._log.read, thread_id, run_id, after_seq=seq - 1, limit=1)
        return events[0] if events and events[0].seq == seq else None

    async def _closes_stream(self, thread_id: str, run_id: str, event: RunEvent, *, more_read: bool) -> bool:
        """Whether the stream ends after ``event``. A terminal status always ends it; ``requires_action``
        only when nothing follows it in the log (else it is an earlier tool turn the run went on from).
        ``more_read``: events after it are already in hand."""
        if event.closing_status is None:
            return False
        if event.closing_status is not RunStatus.REQUIRES_ACTION:
            return True
        if more_read:
            return False
        return not await asyncio.to_thread(self._log.read, thread_id, run_id, after_seq=event.seq, limit=1)

    async def _check_run(
        self, thread_id: str, run_id: str, cursor: int, last_seen: RunEvent | None
    ) -> tuple[bool, RunEvent | None]:
        """(whether the stream must close now, the event to send before closing). A closed run with nothing
        logged after ``cursor`` closes with its event built from the stored run (``seq`` 0: not in the log),
        unless the log's last event (``last_seen``, at ``cursor``) already is that event; with something
        logged, the stream reads on and closes on the logged event. A deleted run closes."""
        run = await asyncio.to_thread(self._run_repository.find_run, thread_id, run_id)
        if run is None:
            return True, None
        if run.status not in STREAM_CLOSING_STATUSES:
            return False, None
        if await asyncio.to_thread(self._log.read, thread_id, run_id, after_seq=cursor, limit=1):
            return False, None
        if last_seen is not None and last_seen.closing_status == run.status:
            return True, None
        closing = run_event(run)
        return True, RunEvent(seq=0, event=closing.event, data=closing.data, attempt=closing.attempt)
