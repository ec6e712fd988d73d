"""RunStreamService over an in-memory event log and a fake clock: where a stream closes, resuming, superseded
attempts, the poll backoff, and a closing event that lands in the log after the run's write."""

from __future__ import annotations

import asyncio

from assistants_core.domain.models import Run
from assistants_core.domain.run_events import RunEvent
from assistants_core.domain.status import RunStatus
from assistants_core.services.run_stream import RunStreamService
from tests.contract.factories import make_run, make_thread

THREAD = make_thread()
# Fake seconds: a stream that fails to close ends here (the tests assert on what was sent).
STREAM_SECONDS = 60.0


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
        self.events: list[RunEvent] = []
        self.reads = 0
        self.extend(events)

    def extend(self, events: list[tuple[str, int]]) -> None:
        first = len(self.events) + 1
        self.events += [RunEvent(seq, name, {}, attempt) for seq, (name, attempt) in enumerate(events, first)]

    def read(self, thread_id: str, run_id: str, *, after_seq: int = 0, limit: int = 100) -> list[RunEvent]:
        self.reads += 1
        return [event for event in self.events if event.seq > after_seq][:limit]

    def last_seq(self, thread_id: str, run_id: str) -> int:
        return len(self.events)


class FakeTime:
    """``monotonic`` and ``sleep`` of the stream: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def stream_service(runs: FakeRuns, log: ListLog, time: FakeTime) -> RunStreamService:
    return RunStreamService(
        runs,  # type: ignore[arg-type]
        runs,  # type: ignore[arg-type]
        log,
        max_stream_seconds=STREAM_SECONDS,
        sleep=time.sleep,
        monotonic=time.monotonic,
    )


def collect(service: RunStreamService, run: Run, after_seq: int = 0) -> list[tuple[int, str]]:
    async def events() -> list[tuple[int, str]]:
        stream = service.stream_after(THREAD.owner, THREAD.id, run.id, after_seq)
        return [(event.seq, event.event) async for event in stream]

    return asyncio.run(events())


def streamed(status: RunStatus, events: list[tuple[str, int]], after_seq: int) -> list[tuple[int, str]]:
    runs = FakeRuns(make_run(THREAD, status=status, stream_log_seq=0))  # a streamed run: it has a log
    return collect(stream_service(runs, ListLog(events), FakeTime()), runs.run, after_seq)


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


class RunFinishedBeforeItsEvents(FakeRuns):
    """The worker's final write is stored (the run reads ``completed``); its message, step and run events
    land in the log ``reads_until_append`` log reads after the stream first sees the run finished."""

    def __init__(
        self, run: Run, log: ListLog, finish: list[tuple[str, int]], reads_until_append: int
    ) -> None:
        super().__init__(run)
        self._log, self._finish, self._reads = log, finish, reads_until_append
        self._seen_at: int | None = None

    def find_run(self, thread_id: str, run_id: str) -> Run | None:
        if self._seen_at is None:
            self._seen_at = self._log.reads
        return self.run

    def land_if_due(self) -> None:
        if self._seen_at is not None and self._finish and self._log.reads >= self._seen_at + self._reads:
            self._log.extend(self._finish)
            self._finish = []


class LandingLog(ListLog):
    runs: RunFinishedBeforeItsEvents | None = None

    def read(self, thread_id: str, run_id: str, *, after_seq: int = 0, limit: int = 100) -> list[RunEvent]:
        if self.runs is not None:
            self.runs.land_if_due()
        return super().read(thread_id, run_id, after_seq=after_seq, limit=limit)


FINISH = [("thread.message.completed", 1), ("thread.run.step.completed", 1), ("thread.run.completed", 1)]
STARTED = TOOL_TURN_THEN_COMPLETED[:3]


def test_a_stream_waits_for_the_closing_events_appended_after_the_final_write() -> None:
    """Issue 10: the stream closed on the stored ``completed`` run before the worker's append of
    ``thread.message.completed`` / ``thread.run.step.completed`` / ``thread.run.completed`` landed."""
    for reads_until_append in (1, 2, 5):
        log = LandingLog(STARTED)
        runs = RunFinishedBeforeItsEvents(
            make_run(THREAD, status=RunStatus.COMPLETED, stream_log_seq=0), log, FINISH, reads_until_append
        )
        log.runs = runs
        sent = collect(stream_service(runs, log, FakeTime()), runs.run)
        assert [name for _, name in sent] == [name for name, _ in STARTED + FINISH], reads_until_append
        assert all(seq > 0 for seq, _ in sent)  # every event read from the log, none built from the run


def test_a_closed_run_whose_log_never_gets_its_event_closes_after_the_grace() -> None:
    time = FakeTime()
    runs = FakeRuns(make_run(THREAD, status=RunStatus.COMPLETED, stream_log_seq=0))
    sent = collect(stream_service(runs, ListLog(STARTED), time), runs.run)
    assert sent == [
        (1, "thread.run.created"),
        (2, "thread.run.queued"),
        (3, "thread.run.in_progress"),
        (0, "thread.run.completed"),
    ]
    assert 3.0 <= time.now < 6.0  # the grace (3 s) at 1 s run checks, far from the stream's 60 s


def test_an_idle_stream_backs_off_its_log_reads_and_resets_on_an_event() -> None:
    time = FakeTime()
    log = ListLog(STARTED)
    runs = FakeRuns(make_run(THREAD, status=RunStatus.IN_PROGRESS, stream_log_seq=0))
    assert len(collect(stream_service(runs, log, time), runs.run)) == 3
    assert time.sleeps[:5] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert max(time.sleeps) == 1.0
    # 60 s idle: about one read a second (10 a second before), plus the run checks' reads.
    assert log.reads < 2 * STREAM_SECONDS + 10

    class OneEventLater(ListLog):
        def read(
            self, thread_id: str, run_id: str, *, after_seq: int = 0, limit: int = 100
        ) -> list[RunEvent]:
            if self.reads == 8:
                self.extend([("thread.message.delta", 1)])
            return super().read(thread_id, run_id, after_seq=after_seq, limit=limit)

    time = FakeTime()
    collect(stream_service(runs, OneEventLater(STARTED), time), runs.run)
    reset = time.sleeps.index(0.1, 1)
    assert time.sleeps[reset - 1] > 0.1 and time.sleeps[reset + 1] == 0.2


def test_a_stream_ends_soon_after_its_run_must_have_ended() -> None:
    """A run is expired by its expires_at (never extended): its stream stops 120 s after it at the latest,
    even with a longer max_stream_seconds (here the sweeper never came)."""
    time = FakeTime()
    runs = FakeRuns(make_run(THREAD, status=RunStatus.IN_PROGRESS, stream_log_seq=0, expires_at=10_010))
    service = RunStreamService(
        runs,  # type: ignore[arg-type]
        runs,  # type: ignore[arg-type]
        ListLog(STARTED),
        max_stream_seconds=840,
        sleep=time.sleep,
        monotonic=time.monotonic,
        wall_clock=lambda: 10_000.0 + time.now,
    )
    assert len(collect(service, runs.run)) == 3
    assert 130.0 <= time.now < 132.0
