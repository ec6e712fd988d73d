"""RunStreamService over an in-memory event log: where a stream closes, resuming, superseded attempts."""

from __future__ import annotations

import asyncio

from assistants_core.domain.models import Run
from assistants_core.domain.run_events import RunEvent
from assistants_core.domain.status import RunStatus
from assistants_core.services.run_stream import RunStreamService
from tests.contract.factories import make_run, make_thread

THREAD = make_thread()
# A stream that fails to close would otherwise poll for 840 s: bound it (the tests assert on what was sent).
STREAM_SECONDS = 0.5


class FakeRuns:
    """The run seen by RunService.retrieve and RunRepository.find_run."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def retrieve(self, owner: str, thread_id: str, run_id: str) -> Run:
        return self.run

    def find_run(self, thread_id: str, run_id: str) -> Run | None:
        return self.run


class ListLog:
    def __init__(self, events: list[tuple[str, int]]) -> None:
        self.events = [
            RunEvent(seq, name, {}, attempt) for seq, (name, attempt) in enumerate(events, start=1)
        ]

    def read(self, thread_id: str, run_id: str, *, after_seq: int = 0, limit: int = 100) -> list[RunEvent]:
        return [event for event in self.events if event.seq > after_seq][:limit]

    def last_seq(self, thread_id: str, run_id: str) -> int:
        return len(self.events)


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def streamed(status: RunStatus, events: list[tuple[str, int]], after_seq: int) -> list[tuple[int, str]]:
    runs = FakeRuns(make_run(THREAD, status=status, stream_log_seq=0))  # a streamed run: it has a log
    service = RunStreamService(
        runs,  # type: ignore[arg-type]
        runs,  # type: ignore[arg-type]
        ListLog(events),
        poll_seconds=0,
        run_check_seconds=0,
        max_stream_seconds=STREAM_SECONDS,
        sleep=_no_sleep,
    )

    async def collect() -> list[tuple[int, str]]:
        stream = service.stream_after(THREAD.owner, THREAD.id, runs.run.id, after_seq)
        return [(event.seq, event.event) async for event in stream]

    return asyncio.run(collect())


TOOL_TURN_THEN_COMPLETED = [
    ("thread.run.created", 1),
    ("thread.run.queued", 1),
    ("thread.run.in_progress", 1),
    ("thread.run.step.in_progress", 1),
    ("thread.run.requires_action", 1),
    ("thread.run.step.completed", 1),
    ("thread.run.queued", 1),
    ("thread.run.in_progress", 2),
    ("thread.message.created", 2),
    ("thread.run.completed", 2),
]


def test_a_stream_from_the_start_goes_past_an_earlier_tool_turn_to_the_end() -> None:
    sent = streamed(RunStatus.COMPLETED, TOOL_TURN_THEN_COMPLETED, after_seq=0)
    assert sent == [(seq, name) for seq, (name, _) in enumerate(TOOL_TURN_THEN_COMPLETED, start=1)]


def test_a_stream_closes_on_requires_action_when_nothing_follows_it() -> None:
    waiting = TOOL_TURN_THEN_COMPLETED[:5]
    sent = streamed(RunStatus.REQUIRES_ACTION, waiting, after_seq=0)
    assert sent[-1] == (5, "thread.run.requires_action")
    assert len(sent) == 5


def test_resuming_after_the_closing_event_sends_nothing_again() -> None:
    assert streamed(RunStatus.COMPLETED, TOOL_TURN_THEN_COMPLETED, after_seq=10) == []
    assert streamed(RunStatus.REQUIRES_ACTION, TOOL_TURN_THEN_COMPLETED[:5], after_seq=5) == []


def test_resuming_after_an_old_requires_action_follows_the_run_on() -> None:
    sent = streamed(RunStatus.COMPLETED, TOOL_TURN_THEN_COMPLETED, after_seq=5)
    assert [seq for seq, _ in sent] == [6, 7, 8, 9, 10]


def test_a_closed_run_whose_log_lacks_the_closing_event_still_gets_it() -> None:
    sent = streamed(RunStatus.CANCELLED, TOOL_TURN_THEN_COMPLETED[:3], after_seq=3)
    assert sent == [(0, "thread.run.cancelled")]


def test_resuming_inside_a_newer_attempt_drops_the_superseded_attempts_events() -> None:
    """A worker that lost its lease (attempt 1) appends after the re-claimed attempt 2 started."""
    events = [
        ("thread.run.created", 1),
        ("thread.run.in_progress", 2),
        ("thread.message.created", 2),
        ("thread.message.delta", 1),
        ("thread.message.delta", 2),
        ("thread.run.completed", 2),
    ]
    sent = streamed(RunStatus.COMPLETED, events, after_seq=3)
    assert sent == [(5, "thread.message.delta"), (6, "thread.run.completed")]


def test_a_live_stream_passes_an_earlier_tool_turn_and_ends_at_its_max_seconds() -> None:
    """The buffered API path ends a stream early; the client resumes from the last event it got."""
    sent = streamed(RunStatus.IN_PROGRESS, TOOL_TURN_THEN_COMPLETED[:8], after_seq=0)
    assert [seq for seq, _ in sent] == list(range(1, 9))
