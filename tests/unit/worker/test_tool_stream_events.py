"""gpu_worker/tool_stream_events.py: which events a tool-offering turn appends, and when (no storage)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from assistants_core.domain.run_events import NewRunEvent
from assistants_core.services.run_events import RunEventPublisher
from gpu_worker.outcomes import Generation, RunOutcome
from gpu_worker.tool_calls import HermesToolCallFormat
from gpu_worker.tool_stream_events import ToolTurnEventStream
from gpu_worker.tool_turns import plan_turn
from tests.unit.worker.test_reply_events import RecordingLog, _run
from tests.worker.stream_view import required_calls, view_of

HERMES = HermesToolCallFormat()
LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
CALL = '<tool_call>{"name": "lookup", "arguments": {"q": "' + "x" * 40 + '"}}</tool_call>'


def stream_turn(pieces: list[str], log: RecordingLog, interval: float) -> RunOutcome:
    run = replace(_run(), tools=[LOOKUP])

    async def scenario() -> RunOutcome:
        turn = plan_turn(run, [], HERMES)
        stream = ToolTurnEventStream(
            RunEventPublisher(log), run, turn, HERMES, now=lambda: 5.0, flush_interval=lambda: interval
        )
        await stream.start(5.0)
        for piece in pieces:
            await stream.add(piece)
        return await stream.finish(Generation("".join(pieces), 10, len(pieces), "stop"), 6.0)

    return asyncio.run(scenario())


def step_deltas(log: RecordingLog) -> list[list[dict[str, object]]]:
    return [
        event.data["delta"]["step_details"]["tool_calls"]
        for event in log.appended
        if event.event == "thread.run.step.delta"
    ]


def arguments_of(log: RecordingLog) -> str:
    return "".join(entry["function"]["arguments"] for delta in step_deltas(log) for entry in delta)  # type: ignore[index]


def test_argument_fragments_are_coalesced_within_the_flush_interval() -> None:
    log = RecordingLog()
    outcome = stream_turn(list(CALL), log, interval=3600.0)
    # The call's start at once (id, name, no arguments yet), then everything else with the final flush.
    first, _rest = step_deltas(log)
    assert first == [
        {
            "index": 0,
            "id": first[0]["id"],
            "type": "function",
            "function": {"name": "lookup", "arguments": "", "output": None},
        }
    ]
    assert outcome.fields["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"] == first[0]["id"]
    assert arguments_of(log) == json.dumps({"q": "x" * 40})


def test_every_fragment_is_written_when_the_interval_is_zero() -> None:
    log = RecordingLog()
    stream_turn(list(CALL), log, interval=0.0)
    assert len(step_deltas(log)) > 10
    assert arguments_of(log) == json.dumps({"q": "x" * 40})


def test_a_failed_step_delta_write_is_kept_for_the_next_flush() -> None:
    class FailOnce(RecordingLog):
        def append(
            self,
            thread_id: str,
            run_id: str,
            events: list[NewRunEvent],
            *,
            new_log: bool = False,
            last_seq_hint: int | None = None,
        ) -> None:
            if events and events[0].event == "thread.run.step.delta" and not getattr(self, "failed", False):
                self.failed = True
                raise OSError("storage unavailable")
            super().append(thread_id, run_id, events, new_log=new_log, last_seq_hint=last_seq_hint)

    log = FailOnce()
    outcome = stream_turn(list(CALL), log, interval=0.0)
    (call,) = outcome.fields["required_action"]["submit_tool_outputs"]["tool_calls"]
    entries = [entry for delta in step_deltas(log) for entry in delta]
    assert entries[0]["id"] == call["id"] and entries[0]["function"]["name"] == "lookup"  # type: ignore[index]
    assert arguments_of(log) == call["function"]["arguments"]


def test_text_only_turn_with_no_text_still_announces_its_message() -> None:
    log = RecordingLog()
    outcome = stream_turn([""], log, interval=0.0)
    assert outcome.message is not None and outcome.message.text() == ""
    assert [event.event for event in log.appended] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ]


def test_calls_that_differ_from_the_stored_ones_are_announced_again() -> None:
    # The first block streams as a call, then turns out malformed: only the second is stored.
    text = (
        '<tool_call>{"name": "lookup", "arguments": {"q": 1}} junk</tool_call>\n'
        '<tool_call>{"name": "lookup", "arguments": {"q": 2}}</tool_call>'
    )
    log = RecordingLog()
    outcome = stream_turn([text[i : i + 5] for i in range(0, len(text), 5)], log, interval=0.0)
    view = view_of(log.appended)  # type: ignore[arg-type]  # NewRunEvent has what view_of reads
    assert view.names.count("thread.run.step.created") == 2  # the SDK's snapshot of the step restarts
    (step_id,) = view.tool_steps()
    assert view.calls(step_id) == required_calls(outcome.fields)
    assert [json.loads(args) for _, _, args in view.calls(step_id)] == [{"q": 2}]
