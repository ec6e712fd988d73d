"""The per-run event log: OpenAI stream events (``thread.run.completed`` ...) in the order they happened.

An event's ``data`` is the wire payload exactly as the stream sends it (a full run, step or message object,
or a delta); the log stores it opaquely. ``attempt`` is the run's claim attempt that produced the event: a
re-claimed run restarts its message (a fresh ``thread.message.created`` with empty content, then new deltas),
and readers drop message and step events of an attempt older than the newest one they have seen (a worker
that lost its lease may still append for a moment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistants_core.domain.status import RunStatus

JSONDict = dict[str, Any]

THREAD_CREATED = "thread.created"
RUN_EVENT_PREFIX = "thread.run."
STEP_EVENT_PREFIX = "thread.run.step."
MESSAGE_EVENT_PREFIX = "thread.message."
MESSAGE_DELTA = "thread.message.delta"
# Statuses after which a stream closes (the run waits for the client, or it is over).
STREAM_CLOSING_STATUSES: frozenset[RunStatus] = frozenset(
    {
        RunStatus.REQUIRES_ACTION,
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.EXPIRED,
        RunStatus.INCOMPLETE,
    }
)


def run_event_name(status: RunStatus) -> str:
    """``thread.run.<status>``: OpenAI names one run event per status."""
    return f"{RUN_EVENT_PREFIX}{status.value}"


@dataclass(frozen=True, slots=True)
class NewRunEvent:
    """An event to append; the log assigns its sequence number."""

    event: str
    data: JSONDict
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A stored event: ``seq`` starts at 1 and increases by one per event of the run (0: an event built from
    the stored run for a stream whose log lacks it, never stored)."""

    seq: int
    event: str
    data: JSONDict
    attempt: int = 0

    @property
    def is_attempt_scoped(self) -> bool:
        """Message and step events belong to one generation attempt; run status events do not."""
        return self.event.startswith((STEP_EVENT_PREFIX, MESSAGE_EVENT_PREFIX))

    @property
    def closing_status(self) -> RunStatus | None:
        """The status of a run event after which the stream closes, else None."""
        if not self.event.startswith(RUN_EVENT_PREFIX) or self.is_attempt_scoped:
            return None
        try:
            status = RunStatus(self.event.removeprefix(RUN_EVENT_PREFIX))
        except ValueError:
            return None
        return status if status in STREAM_CLOSING_STATUSES else None
