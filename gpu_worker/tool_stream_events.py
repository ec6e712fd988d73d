"""The stream events of a turn that offers functions, while it is generated (OpenAI's order):

- text the model writes before any call streams as the reply's ``thread.message.delta`` (``ReplyEventStream``:
  the message and its ``message_creation`` step are announced with the first text, deltas coalesced), held
  back only where it could still be a call marker (``tool_stream``);
- the first kept call ends that message (``thread.message.completed``, ``thread.run.step.completed``) and
  opens the turn's ``tool_calls`` step (``thread.run.step.created`` with no calls), then
  ``thread.run.step.delta`` events carry each call's ``index``, ``id``, ``type``, ``function.name`` (in its
  first delta) and ``function.arguments`` fragments, coalesced like text deltas;
- the final write adds ``thread.run.step.in_progress`` and ``thread.run.requires_action``
  (``EventedRunRepository.finish_run``).

What is stored is decided on the whole text at the end, as before (``ToolTurn.parse``): the call ids, names
and arguments in ``required_action`` are exactly what the deltas added up to. Where a malformed or cut-off
call made the stream guess wrong, ``finish`` repairs it before the final write: the step is announced again
(``thread.run.step.created`` resets the SDK's accumulated calls) with the stored calls, or, when the turn is
a reply after all, the guessed step fails and the message restarts with the stored text (as a re-claimed run
restarts its reply). Text before a call is streamed and ended but, as before, not stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from assistants_core.domain.models import Run, RunStep
from assistants_core.domain.status import StepStatus
from assistants_core.services.run_events import (
    RunEventPublisher,
    message_event,
    step_delta_event,
    step_event,
)
from gpu_worker.file_search import FILE_SEARCH, offers_file_search
from gpu_worker.outcomes import ENGINE_FAILURE_ERROR, Generation, RunOutcome, StartedReply, generation_outcome
from gpu_worker.reply_events import MIN_FLUSH_SECONDS, ReplyEventStream
from gpu_worker.tool_calls import ParsedCall, ToolCallFormat
from gpu_worker.tool_stream import ArgumentsPiece, CallEvent, CallStarted, TextPiece
from gpu_worker.tool_turns import (
    TOOL_CALLS_STEP,
    ToolTurn,
    reply_outcome,
    tool_call_id,
    tool_calls_outcome,
)

logger = logging.getLogger(__name__)
NO_GENERATION = Generation("", 0, 0, None)


@dataclass(slots=True)
class StreamedCall:
    """A kept call as the stream shows it: ``arguments`` so far, ``pending`` not yet written."""

    id: str
    name: str
    arguments: str = ""
    pending: str = ""
    announced: bool = False
    search: bool = False  # the server's file_search tool (not a client function)

    def delta(self, index: int) -> dict[str, Any]:
        """This call's entry of a ``step_details.tool_calls`` delta (id and name only in its first). A
        file_search call shows as OpenAI streams it, ``{"index", "id", "type": "file_search", "file_search":
        {}}`` (its queries are private; its results come with the step's completion)."""
        if self.search:
            return {"index": index, "id": self.id, "type": FILE_SEARCH, FILE_SEARCH: {}}
        if self.announced:
            return {"index": index, "type": "function", "function": {"arguments": self.pending}}
        function = {"name": self.name, "arguments": self.pending, "output": None}
        return {"index": index, "id": self.id, "type": "function", "function": function}


def tool_calls_delta(step_id: str, entries: Sequence[dict[str, Any]], attempt: int) -> Any:
    return step_delta_event(
        step_id, {"step_details": {"type": TOOL_CALLS_STEP, "tool_calls": list(entries)}}, attempt
    )


class ToolTurnEventStream:
    def __init__(
        self,
        publisher: RunEventPublisher,
        run: Run,
        turn: ToolTurn,
        tool_format: ToolCallFormat,
        *,
        now: Callable[[], float],
        flush_interval: Callable[[], float] = lambda: MIN_FLUSH_SECONDS,
    ) -> None:
        self._publisher = publisher
        self._run = run
        self._turn = turn
        self._format = tool_format
        self._now = now
        self._flush_interval = flush_interval
        self._parser = turn.stream_parser(tool_format)
        self._reply: ReplyEventStream | None = None
        self._sent_text: list[str] = []  # text handed to the reply stream
        self._message_ended = False
        self._call_seen = False  # a call began: text after it is not the reply's (unless repaired)
        self._kept: dict[int, int] = {}  # the parser's call index -> the kept call's index
        self.calls: list[StreamedCall] = []
        self._step: RunStep | None = None
        self._last_step_flush = 0.0

    async def start(self, now: float) -> None:
        """Nothing is announced before the model shows whether it writes text or calls a function."""

    async def add(self, text: str) -> None:
        """The next engine chunk."""
        await self._apply(self._parser.feed(text))
        await self._flush_calls(force=False)

    async def finish(self, generation: Generation, now: float) -> RunOutcome:
        """The whole generation is known: the outcome to write (as ``ToolTurn.parse`` reads the text), with
        the stream brought in line with it."""
        await self._apply(self._parser.finish())
        calls = self._turn.parse(generation.text, self._format)
        if calls:
            # A search's arguments are not streamed: only its place and name must agree.
            streamed = [(c.name, "" if c.search else c.arguments) for c in self.calls]
            if streamed == [(c.name, "" if self._is_search(c.name) else c.arguments) for c in calls]:
                await self._flush_calls(force=True)
            else:
                await self._announce_calls_again(calls)
            return tool_calls_outcome(self._run, self._turn.number, calls, generation, now)
        await self._finish_reply(generation.text)
        assert self._reply is not None and self._reply.started_at is not None
        return reply_outcome(self._run, self._turn.number, generation, now, started_at=self._reply.started_at)

    def started_reply(self) -> StartedReply | None:
        """The reply this stream announced and has not ended, with the text it sent (for a failed engine)."""
        if self._reply is None or self._reply.started_at is None or self._message_ended:
            return None
        return StartedReply(self._run, self._reply.started_at, self._turn.number, "".join(self._sent_text))

    # -- text -------------------------------------------------------------------------------------------
    async def _apply(self, events: Sequence[CallEvent]) -> None:
        for event in events:
            if isinstance(event, TextPiece):
                if not self._call_seen:
                    await self._add_text(event.text)
            elif isinstance(event, CallStarted):
                self._call_seen = True
                await self._keep_call(event)
            elif isinstance(event, ArgumentsPiece) and event.index in self._kept:
                call = self.calls[self._kept[event.index]]
                call.arguments += event.fragment
                if not call.search:  # a search's arguments are not streamed
                    call.pending += event.fragment

    async def _add_text(self, text: str) -> None:
        if self._reply is None:
            self._reply = ReplyEventStream(
                self._publisher, self._run, flush_interval=self._flush_interval, turn=self._turn.number
            )
            await self._reply.start(self._now())
        self._sent_text.append(text)
        await self._reply.add(text)

    async def _end_message(self) -> None:
        """The text before a call ends its message (and ``message_creation`` step) as OpenAI does."""
        if self._reply is None or self._message_ended:
            return
        self._message_ended = True
        await self._reply.flush()
        assert self._reply.started_at is not None
        ended = generation_outcome(
            self._run,
            Generation("".join(self._sent_text), 0, 0, "stop"),
            self._now(),
            started_at=self._reply.started_at,
            turn=self._turn.number,
        )
        assert ended.message is not None
        attempt = self._run.attempts
        events = [
            message_event(ended.message, "completed", attempt),
            step_event(replace(ended.steps[0], usage=None), "completed", attempt),
        ]
        await asyncio.to_thread(self._publisher.publish_after_write, self._run, events)

    async def _finish_reply(self, text: str) -> None:
        sent = "".join(self._sent_text)
        if self._step is None and not self._message_ended and text.startswith(sent):
            if self._reply is None or text[len(sent) :]:
                await self._add_text(text[len(sent) :])
            assert self._reply is not None
            await self._reply.flush()
            return
        # The stream took a malformed call for a call: that step fails, the reply restarts whole.
        if self._step is not None:
            failed = replace(self._step, status=StepStatus.FAILED, last_error=dict(ENGINE_FAILURE_ERROR))
            await self._publish([step_event(failed, "failed", self._run.attempts)])
        self._reply, self._sent_text, self._message_ended = None, [], False
        await self._add_text(text)
        assert self._reply is not None
        await self._reply.flush()

    # -- calls ------------------------------------------------------------------------------------------
    async def _keep_call(self, event: CallStarted) -> None:
        """A call of an offered function is streamed (only the first when calls are not parallel)."""
        if event.name not in self._turn.offered or (self.calls and not self._turn.parallel):
            return
        if self._step is None:
            await self._open_step()
        self._kept[event.index] = len(self.calls)
        call_id = tool_call_id(self._run, self._turn.number, len(self.calls))
        self.calls.append(StreamedCall(call_id, event.name, search=self._is_search(event.name)))

    def _is_search(self, name: str) -> bool:
        return name == FILE_SEARCH and offers_file_search(self._run)

    async def _open_step(self) -> None:
        await self._end_message()
        empty = tool_calls_outcome(self._run, self._turn.number, [], NO_GENERATION, self._now())
        self._step = replace(empty.steps[0], usage=None)
        attempt = self._run.attempts
        # OpenAI's order: created, in_progress, then the deltas (the final write adds no in_progress again).
        await self._publish(
            [step_event(self._step, "created", attempt), step_event(self._step, "in_progress", attempt)]
        )
        self._last_step_flush = asyncio.get_running_loop().time()

    async def _flush_calls(self, *, force: bool) -> None:
        """Append what the calls added as one step delta: a new call at once, arguments at most once per
        ``flush_interval()`` (kept for the next flush when the write fails)."""
        waiting = [
            (index, call) for index, call in enumerate(self.calls) if not call.announced or call.pending
        ]
        if self._step is None or not waiting:
            return
        elapsed = asyncio.get_running_loop().time() - self._last_step_flush
        if not force and all(call.announced for _, call in waiting) and elapsed < self._flush_interval():
            return
        event = tool_calls_delta(
            self._step.id, [call.delta(index) for index, call in waiting], self._run.attempts
        )
        self._last_step_flush = asyncio.get_running_loop().time()
        try:
            await asyncio.to_thread(self._publisher.publish, self._run, [event])
        except Exception:  # storage trouble: required_action still carries the whole calls
            logger.warning(
                "step delta write failed; retried with the next flush", extra={"run_id": self._run.id}
            )
            return
        for _, call in waiting:
            call.announced, call.pending = True, ""

    async def _announce_calls_again(self, calls: Sequence[ParsedCall]) -> None:
        """The stored calls differ from what streamed: the step is announced afresh with them, whole."""
        self._step = None
        await self._open_step()
        assert self._step is not None
        self.calls = [
            StreamedCall(
                tool_call_id(self._run, self._turn.number, index),
                call.name,
                call.arguments,
                search=self._is_search(call.name),
            )
            for index, call in enumerate(calls)
        ]
        for call in self.calls:
            call.pending = "" if call.search else call.arguments
        await self._flush_calls(force=True)

    async def _publish(self, events: Sequence[Any]) -> None:
        await asyncio.to_thread(self._publisher.publish_after_write, self._run, events)
