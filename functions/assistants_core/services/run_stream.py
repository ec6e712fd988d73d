"""Streaming a run's events (``stream: true``): follow the run's event log with a cursor until the run
closes (a terminal status, or a ``requires_action`` with nothing logged after it: an earlier tool turn the run
went on from does not end a stream that starts before it).

- The log is read every ``poll_seconds`` while events arrive; each read that finds nothing doubles the wait,
  up to ``max_poll_seconds``, and the next event resets it (an idle stream costs ~1 read a second, not 10).
- The run itself is read every ``run_check_seconds``. A run that is closed while its closing event is not in
  the log yet does not close the stream at once: every writer (worker, API, sweeper, DLQ) appends the
  run's events right *after* its conditional write, the message and step events first, so the stream keeps
  reading the log (at ``poll_seconds``) and closes on the logged closing event, having sent everything
  before it. Only when the log still lacks it ``terminal_event_grace_seconds`` after the run was first seen
  closed (the writer died between its write and its append, or its append failed) does the stream close with
  a ``thread.run.<status>`` event built from the stored run (``seq`` 0: not in the log).
- ``after_seq`` resumes after the last event a client saw (SSE ``Last-Event-ID``): nothing twice, nothing
  skipped, since the log is append-only and sequence numbers are dense. Resuming after the closing event
  itself ends the stream at once, without repeating it.
- Message and step events of an attempt older than the newest attempt seen (counting the event at
  ``after_seq`` on a resume) are dropped (a worker that lost its lease may still be appending while the run's
  next attempt restarts the reply).
- Each stream holds one of its tenant's open-stream slots (``services/quotas.py``) from before the run is
  created (or the tool outputs submitted) until it ends: over the cap, a 429 that changes nothing.
- Nor does it outlive its run: a run ends by its ``expires_at`` (never extended; the sweeper expires it
  within a minute), so a stream ends ``STREAM_PAST_EXPIRY_SECONDS`` after it at the latest.
- A stream never outlives ``max_stream_seconds`` (Lambda's 15-minute limit; far less behind API Gateway,
  ``ASSISTANTS_STREAM_MAX_SECONDS``); then it ends and the client resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from assistants_core.domain import ids
from assistants_core.domain.models import Run
from assistants_core.domain.run_events import STEP_EVENT_PREFIX, STREAM_CLOSING_STATUSES, RunEvent
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunEventLog, RunRepository
from assistants_core.schemas.runs import CreateRunRequest, CreateThreadAndRunRequest
from assistants_core.schemas.step_details import step_event_data_to_wire
from assistants_core.services.quotas import TenantQuotas
from assistants_core.services.run_events import run_event
from assistants_core.services.runs import RunService
from assistants_core.services.validation import require_id

logger = logging.getLogger(__name__)

READ_BATCH = 100
# A stream ends this long after its run's expires_at, whatever happens (the sweeper runs every minute).
STREAM_PAST_EXPIRY_SECONDS = 120
T = TypeVar("T")


class RunStreamService:
    def __init__(
        self,
        runs: RunService,
        run_repository: RunRepository,
        log: RunEventLog,
        *,
        poll_seconds: float = 0.1,
        max_poll_seconds: float = 1.0,
        run_check_seconds: float = 1.0,
        terminal_event_grace_seconds: float = 3.0,
        max_stream_seconds: float = 840.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        quotas: TenantQuotas | None = None,
    ) -> None:
        self._wall_clock = wall_clock
        self._quotas = quotas
        self._runs = runs
        self._run_repository = run_repository
        self._log = log
        self._poll_seconds = poll_seconds
        self._max_poll_seconds = max(poll_seconds, max_poll_seconds)
        self._run_check_seconds = run_check_seconds
        self._terminal_event_grace_seconds = terminal_event_grace_seconds
        self._max_stream_seconds = max_stream_seconds
        self._sleep = sleep
        self._monotonic = monotonic

    def create_run(
        self, owner: str, thread_id: str, request: CreateRunRequest, *, include_content: bool = False
    ) -> AsyncIterator[RunEvent]:
        """Create the run (errors raise here, before any byte is streamed), then stream it from the start
        (``include_content``: its step events carry file_search result content, ``include[]``)."""
        return self._created_and_streamed(
            owner, lambda: self._runs.create(owner, thread_id, request), include_content=include_content
        )

    def create_thread_and_run(
        self, owner: str, request: CreateThreadAndRunRequest
    ) -> AsyncIterator[RunEvent]:
        """``POST /threads/runs`` streamed: ``thread.created`` first, then the run's events."""
        return self._created_and_streamed(owner, lambda: self._runs.create_thread_and_run(owner, request))

    def stream_after(
        self, owner: str, thread_id: str, run_id: str, after_seq: int, *, include_content: bool = False
    ) -> AsyncIterator[RunEvent]:
        """The events of an existing run after ``after_seq`` (404 for an unknown or foreign run). A run nobody
        streamed yet has no event log: it is marked streamed (its changes are logged from then on) and the
        stream starts with its status event as marked (the catch-up)."""
        return self.in_stream_slot(
            owner,
            lambda: self._runs.retrieve(owner, thread_id, run_id),
            thread_id,
            run_id,
            after_seq,
            include_content=include_content,
        )

    def in_stream_slot(
        self,
        owner: str,
        action: Callable[[], Run],
        thread_id: str,
        run_id: str,
        after_seq: int,
        *,
        include_content: bool = False,
    ) -> AsyncIterator[RunEvent]:
        """Take one of ``owner``'s stream slots (429 over the cap), do ``action`` (its errors raise here and
        give the slot back; it returns the run), then stream the run after ``after_seq``; the slot is given
        back when the stream ends. A run not streamed until now is marked streamed first (``_mark_streamed``)
        and its stream starts with the catch-up."""
        slot, (run, catch_up) = self._with_slot(owner, lambda: self._mark_streamed(action()))
        events = self._follow(thread_id, run_id, after_seq=max(0, after_seq), expires_at=run.expires_at)
        if catch_up is not None:
            events = self._after_catch_up(catch_up, events)
        return self._holding(owner, slot, events, include_content=include_content)

    def _created_and_streamed(
        self, owner: str, create: Callable[[], Run], *, include_content: bool = False
    ) -> AsyncIterator[RunEvent]:
        slot, run = self._with_slot(owner, create)
        events = self._follow(run.thread_id, run.id, after_seq=0, expires_at=run.expires_at)
        return self._holding(owner, slot, events, include_content=include_content)

    def _mark_streamed(self, run: Run) -> tuple[Run, Run | None]:
        """``run`` and, when nobody streamed it before, the run as marked streamed (its catch-up event; None
        when another reader marked it first)."""
        return run, (None if run.streamed else self._run_repository.mark_streamed(run))

    @staticmethod
    async def _after_catch_up(catch_up: Run, events: AsyncIterator[RunEvent]) -> AsyncIterator[RunEvent]:
        """The run's status event as marked (not in the log: ``seq`` 0), then ``events`` unless it closed."""
        caught = run_event(catch_up)
        yield RunEvent(seq=0, event=caught.event, data=caught.data, attempt=caught.attempt)
        if catch_up.status in STREAM_CLOSING_STATUSES:
            return
        async for event in events:
            yield event

    def _with_slot(self, owner: str, action: Callable[[], T]) -> tuple[str | None, T]:
        slot = self._quotas.open_stream(owner) if self._quotas is not None else None
        try:
            return slot, action()
        except BaseException:
            self._close_slot(owner, slot)
            raise

    def _close_slot(self, owner: str, slot: str | None) -> None:
        """Give the slot back; a failure is logged, not raised (its lease frees it later)."""
        if self._quotas is None:
            return
        try:
            self._quotas.close_stream(owner, slot)
        except Exception:  # any storage failure: the stream itself went fine
            logger.exception("could not give back a stream slot", extra={"tenant": owner})

    async def _holding(
        self, owner: str, slot: str | None, events: AsyncIterator[RunEvent], *, include_content: bool = False
    ) -> AsyncIterator[RunEvent]:
        """``events`` as sent: step events shaped for the wire (``step_event_data_to_wire``: no private
        file_search fields; result content only with ``include_content``)."""
        try:
            async for event in events:
                yield self._to_wire(event, include_content)
        finally:
            # Also when the client went away (the response's generator is closed): a blocking single write,
            # since an await here could be cancelled before it gave the slot back.
            self._close_slot(owner, slot)

    @staticmethod
    def _to_wire(event: RunEvent, include_content: bool) -> RunEvent:
        if not event.event.startswith(STEP_EVENT_PREFIX):
            return event
        data = step_event_data_to_wire(event.data, include_content=include_content)
        return RunEvent(seq=event.seq, event=event.event, data=data, attempt=event.attempt)

    def cursor(self, thread_id: str, run_id: str) -> int:
        """The newest sequence number: ``stream_after(..., cursor)`` streams only what happens from now on."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        return self._log.last_seq(thread_id, run_id)

    async def _follow(
        self,
        thread_id: str,
        run_id: str,
        *,
        after_seq: int,
        expires_at: int | None,
    ) -> AsyncIterator[RunEvent]:
        now = self._monotonic()
        deadline = now + self._stream_seconds(expires_at)
        next_run_check = now + self._run_check_seconds
        poll = self._poll_seconds
        closed_since: float | None = None  # when the run was first seen closed without its logged event
        cursor, last_seen = after_seq, await self._event_at(thread_id, run_id, after_seq)
        newest_attempt = last_seen.attempt if last_seen is not None else 0
        if last_seen is not None and await self._closes_stream(thread_id, run_id, last_seen, more_read=False):
            return  # the client already has the event that closed its stream
        while self._monotonic() < deadline:
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
            if events:
                closed_since = None  # the run moves: whatever closed it is being read
            # Back off while nothing happens; read promptly while a closed run's last events are due.
            poll = (
                self._poll_seconds
                if events or closed_since is not None
                else min(poll * 2, self._max_poll_seconds)
            )
            now = self._monotonic()
            if now >= next_run_check:
                closed, closing_event = await self._check_run(thread_id, run_id, cursor, last_seen)
                if not closed:
                    closed_since = None
                elif closing_event is None:
                    return
                else:
                    closed_since = now if closed_since is None else closed_since
                    if now - closed_since >= self._terminal_event_grace_seconds:
                        yield closing_event  # its writer never appended it: built from the stored run
                        return
                    poll = self._poll_seconds
                next_run_check = now + self._run_check_seconds
            await self._sleep(poll)

    def _stream_seconds(self, expires_at: int | None) -> float:
        """How long a stream may last: ``max_stream_seconds``, less when its run must end before that."""
        if expires_at is None:
            return self._max_stream_seconds
        run_left = expires_at + STREAM_PAST_EXPIRY_SECONDS - self._wall_clock()
        return max(0.0, min(self._max_stream_seconds, run_left))

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
