"""Publishing OpenAI stream events to the per-run event log (``ports.RunEventLog``).

Event API (for the worker, tool calling and any code that changes a run):

- Only streamed runs have an event log (``Run.streamed``: ``stream: true`` at create, or a reader attached
  to ``/events``); ``publish`` and ``publish_after_write`` do nothing for other runs.
- Run status events are automatic: every status write goes through ``EventedRunRepository``
  (``services/evented_runs.py``), which wraps the ``RunRepository`` in every composition root (API, worker,
  sweeper, DLQ) and appends ``thread.run.<status>`` with the full run object after each successful
  ``create_run`` (``thread.created`` when it creates the thread, ``thread.run.created``,
  ``thread.run.queued``), ``claim_run`` (``thread.run.in_progress``), ``transition_run`` and ``finish_run``.
  ``finish_run`` also appends, before the run event, ``thread.message.completed`` (or ``.incomplete``) for
  the message it writes and ``thread.run.step.<status>`` for each step it writes, in the order given. So a
  ``requires_action`` finish with an in_progress ``tool_calls`` step emits ``thread.run.step.in_progress``
  then ``thread.run.requires_action``; a stream closes on the latter.
- Everything else is published explicitly, in order, with ``RunEventPublisher.publish(run, events)`` and the
  builders below, e.g. before generating a tool call::

      publisher.publish(run, [step_event(step, "created", run.attempts)])
      publisher.publish(run, [step_delta_event(step.id, {"step_details": {...}}, run.attempts)])

  ``publish`` stamps nothing itself: build events with the run's ``attempts`` (``run.attempts`` of the
  claimed run) so readers can drop the message/step events of a superseded attempt.
- Text replies: ``gpu_worker/reply_events.py`` (``ReplyEventStream``) announces the step and message and
  appends coalesced ``thread.message.delta`` events (the first text at once, then at most one write per
  0.1 s, slower when many runs stream: a per-worker write budget; never one write per token).
- Streaming responses: ``services/run_stream.py`` (``RunStreamService``): ``stream_after(owner, thread_id,
  run_id, after_seq)`` follows the log until the run closes; ``cursor(thread_id, run_id)`` is the sequence
  number to pass as ``after_seq`` for "events from now on" (e.g. read it before ``submit_tool_outputs``'s
  transition, then stream after it).

Appending after a write (never before) means a stream cannot show ``completed`` for a run whose final write
failed; if the process dies between the write and the append, the stream's periodic run read closes it with
the right event anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistants_core.domain.models import Message, Run, RunStep, Thread
from assistants_core.domain.run_events import (
    MESSAGE_DELTA,
    MESSAGE_EVENT_PREFIX,
    RUN_EVENT_PREFIX,
    STEP_EVENT_PREFIX,
    THREAD_CREATED,
    NewRunEvent,
    run_event_name,
)
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.ports import RunEventLog
from assistants_core.schemas.messages import MessageObject
from assistants_core.schemas.runs import RunObject
from assistants_core.schemas.steps import RunStepObject
from assistants_core.schemas.threads import ThreadObject

logger = logging.getLogger(__name__)


def thread_created_event(thread: Thread) -> NewRunEvent:
    return NewRunEvent(THREAD_CREATED, ThreadObject.from_domain(thread).model_dump(mode="json"))


def run_event(run: Run) -> NewRunEvent:
    """``thread.run.<status>`` with the run object as ``GET /threads/{id}/runs/{run_id}`` returns it."""
    data = RunObject.from_domain(run).model_dump(mode="json")
    return NewRunEvent(run_event_name(run.status), data, run.attempts)


def run_created_events(run: Run, new_thread: Thread | None) -> list[NewRunEvent]:
    """A new run: ``thread.created`` (when it created its thread), ``thread.run.created``, ``.queued``."""
    queued = run_event(run)
    created = NewRunEvent(f"{RUN_EVENT_PREFIX}created", queued.data, queued.attempt)
    return [*([thread_created_event(new_thread)] if new_thread is not None else []), created, queued]


def step_event(step: RunStep, kind: str, attempt: int) -> NewRunEvent:
    """``thread.run.step.<kind>`` (created, in_progress, completed, failed, cancelled, expired). The log
    keeps file_search result content: the stream reader drops it unless the stream asked for it."""
    data = RunStepObject.from_domain(step, include_content=True).model_dump(mode="json")
    return NewRunEvent(f"{STEP_EVENT_PREFIX}{kind}", data, attempt)


def step_delta_event(step_id: str, delta: dict[str, Any], attempt: int) -> NewRunEvent:
    return NewRunEvent(
        f"{STEP_EVENT_PREFIX}delta",
        {"id": step_id, "object": "thread.run.step.delta", "delta": delta},
        attempt,
    )


def message_event(message: Message, kind: str, attempt: int) -> NewRunEvent:
    """``thread.message.<kind>`` (created, in_progress, completed, incomplete)."""
    return NewRunEvent(
        f"{MESSAGE_EVENT_PREFIX}{kind}", MessageObject.from_domain(message).model_dump(mode="json"), attempt
    )


def text_delta_event(message_id: str, text: str, attempt: int, *, index: int = 0) -> NewRunEvent:
    """``thread.message.delta`` appending ``text`` to the text content part ``index``."""
    part = {"index": index, "type": "text", "text": {"value": text, "annotations": []}}
    data = {"id": message_id, "object": "thread.message.delta", "delta": {"content": [part]}}
    return NewRunEvent(MESSAGE_DELTA, data, attempt)


def finish_events(run: Run, message: Message | None, steps: Sequence[RunStep]) -> list[NewRunEvent]:
    """What a final write shows: the message's last state, each ended step's, then the run's. A step still in
    progress (a ``tool_calls`` step waiting for outputs) was announced created + in_progress when its first
    call began streaming; repeating ``in_progress`` after its deltas would break OpenAI's event order. A write
    that keeps the run ``in_progress`` (a file_search step recorded mid-run) shows no run event: the run's
    status did not change, and OpenAI streams none there."""
    events: list[NewRunEvent] = []
    if message is not None:
        kind = "incomplete" if message.status == "incomplete" else "completed"
        events.append(message_event(message, kind, run.attempts))
    events += [
        step_event(step, step.status.value, run.attempts)
        for step in steps
        if step.status != StepStatus.IN_PROGRESS
    ]
    if run.status != RunStatus.IN_PROGRESS:
        events.append(run_event(run))
    return events


class RunEventPublisher:
    def __init__(self, log: RunEventLog) -> None:
        self._log = log

    def publish(self, run: Run, events: Sequence[NewRunEvent]) -> None:
        """Append ``events`` in order to ``run``'s log (raises the log's errors); nothing for a run that
        nobody streams (``run.streamed`` false: it has no event log)."""
        if run.streamed:
            self._log.append(run.thread_id, run.id, events, last_seq_hint=run.stream_log_seq)

    def publish_after_write(self, run: Run, events: Sequence[NewRunEvent], *, new_log: bool = False) -> None:
        """Append events describing a write that already succeeded (only for a streamed run). A failure is
        logged, not raised: the write stands, and a stream that misses the run event closes on its periodic
        read of the run."""
        if not run.streamed:
            return
        try:
            self._log.append(run.thread_id, run.id, events, new_log=new_log, last_seq_hint=run.stream_log_seq)
        except Exception:  # any storage failure; the stored run stays the source of truth
            logger.exception("could not append run events", extra={"run_id": run.id})
