"""Stream events of a text reply while it is generated, for a run that someone streams (``run.streamed``):
the ``message_creation`` step and the assistant message are announced (``created`` + ``in_progress``), then
text deltas are appended to the run's event log coalesced. The first text goes out at once (time to first
token); after that a run writes at most once per ``flush_interval()``, which the consumer derives from its
delta write budget (``delta_flush_seconds``): every 0.25 s while few runs stream, slower when many do, so a
worker's write rate stays bounded however many runs it generates. The final message and step events come
with the run's final write (``EventedRunRepository.finish_run``).

A run nobody streams writes nothing here. When a reader attaches while it generates (the consumer's status
watch sets ``run.stream_log_seq``), the next piece of text announces the reply and sends everything generated
so far as its first delta, so the late reader still gets the whole text.

Every attempt of a run announces the message afresh (same ids, empty content): a re-claimed run restarts
its reply, and readers keyed by message id (the SDK's accumulators) start over instead of appending the new
attempt's text to the old one's. A failed delta write is kept and retried with the next flush.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from assistants_core.domain.models import Run
from assistants_core.services.run_events import (
    RunEventPublisher,
    message_event,
    step_event,
    text_delta_event,
)
from gpu_worker.outcomes import in_progress_reply, reply_message_id

logger = logging.getLogger(__name__)

MIN_FLUSH_SECONDS = 0.25
DEFAULT_DELTA_WRITES_PER_SECOND = 100.0


def delta_flush_seconds(streaming_runs: int, writes_per_second: float) -> float:
    """How often each of ``streaming_runs`` runs may write a delta so that together they stay within
    ``writes_per_second`` (never more often than every ``MIN_FLUSH_SECONDS``)."""
    return max(MIN_FLUSH_SECONDS, streaming_runs / writes_per_second)


class ReplyEventStream:
    def __init__(
        self,
        publisher: RunEventPublisher,
        run: Run,
        *,
        flush_interval: Callable[[], float] = lambda: MIN_FLUSH_SECONDS,
        turn: int = 0,
        blocking: Callable[..., Awaitable[Any]] = asyncio.to_thread,
    ) -> None:
        self._publisher = publisher
        self._run = run
        self._turn = turn  # tool-call turns before this reply (its step id depends on it)
        self._flush_interval = flush_interval
        self._blocking = blocking
        self._pending: list[str] = []
        self._announced = False
        self._last_flush = 0.0
        self._flushed = False  # the first text is written at once
        self.writes = 0
        self.started_at: float | None = None

    async def start(self, now: float) -> None:
        self.started_at = now  # the message and step keep this created_at when they finish
        if self._run.streamed:
            await self._announce()

    async def _announce(self) -> None:
        assert self.started_at is not None, "start() first"
        step, message = in_progress_reply(self._run, self.started_at, self._turn)
        attempt = self._run.attempts
        events = [
            step_event(step, "created", attempt),
            step_event(step, "in_progress", attempt),
            message_event(message, "created", attempt),
            message_event(message, "in_progress", attempt),
        ]
        await self._blocking(self._publisher.publish_after_write, self._run, events)
        self._announced = True
        self._last_flush = asyncio.get_running_loop().time()

    async def add(self, text: str) -> None:
        if text:
            self._pending.append(text)
        if not self._pending or not self._run.streamed:
            return
        if not self._announced or not self._flushed:
            await self.flush()
            return
        if asyncio.get_running_loop().time() - self._last_flush >= self._flush_interval():
            await self.flush()

    async def flush(self) -> None:
        """Append the pending text as one delta (kept for the next flush when the write fails); nothing
        while nobody streams the run."""
        if not self._run.streamed:
            return
        if not self._announced:
            await self._announce()
        if not self._pending:
            return
        text = "".join(self._pending)
        event = text_delta_event(reply_message_id(self._run, self._turn), text, self._run.attempts)
        try:
            await self._blocking(self._publisher.publish, self._run, [event])
        except Exception:  # storage trouble: the final message still carries the whole text
            logger.warning("delta write failed; retried with the next flush", extra={"run_id": self._run.id})
            return
        finally:
            self._last_flush = asyncio.get_running_loop().time()
            self._flushed = True
        self._pending.clear()
        self.writes += 1
