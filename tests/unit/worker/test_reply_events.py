"""gpu_worker/reply_events.py: when a streaming reply writes its text deltas."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from assistants_core.domain.models import Run
from assistants_core.domain.run_events import MESSAGE_DELTA, NewRunEvent
from assistants_core.domain.status import RunStatus
from assistants_core.services.run_events import RunEventPublisher
from gpu_worker.reply_events import MIN_FLUSH_SECONDS, ReplyEventStream, delta_flush_seconds


class RecordingLog:
    """A RunEventLog that keeps what is appended (optionally failing the next ``fail_next`` appends)."""

    def __init__(self) -> None:
        self.appended: list[NewRunEvent] = []
        self.fail_next = 0

    def append(
        self,
        thread_id: str,
        run_id: str,
        events: Sequence[NewRunEvent],
        *,
        new_log: bool = False,
        last_seq_hint: int | None = None,
    ) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("storage unavailable")
        self.appended.extend(events)

    def deltas(self) -> list[str]:
        return [
            "".join(part["text"]["value"] for part in event.data["delta"]["content"])
            for event in self.appended
            if event.event == MESSAGE_DELTA
        ]


def _run(*, streamed: bool = True) -> Run:
    return Run(
        id="run_01",
        owner="tenant",
        thread_id="thread_01",
        assistant_id="asst_01",
        created_at=1,
        status=RunStatus.IN_PROGRESS,
        model="m",
        instructions=None,
        expires_at=None,
        attempts=1,
        stream_log_seq=0 if streamed else None,
    )


def _stream_pieces(pieces: list[str], interval: float, log: RecordingLog) -> list[str]:
    async def scenario() -> list[str]:
        stream = ReplyEventStream(RunEventPublisher(log), _run(), flush_interval=lambda: interval)
        await stream.start(now=1.0)
        for piece in pieces:
            await stream.add(piece)
        await stream.flush()
        return log.deltas()

    return asyncio.run(scenario())


def test_the_first_text_is_written_at_once_then_coalesced_until_the_interval() -> None:
    deltas = _stream_pieces(["Hel", "lo", " wor", "ld"], interval=3600.0, log=RecordingLog())
    assert deltas == ["Hel", "lo world"]


def test_an_elapsed_interval_writes_every_piece() -> None:
    assert _stream_pieces(["a", "b", "c"], interval=0.0, log=RecordingLog()) == ["a", "b", "c"]


def test_a_failed_delta_write_keeps_its_text_for_the_next_flush() -> None:
    log = RecordingLog()

    async def scenario() -> None:
        stream = ReplyEventStream(RunEventPublisher(log), _run(), flush_interval=lambda: 0.0)
        await stream.start(now=1.0)
        log.fail_next = 1
        await stream.add("lost? ")
        await stream.add("no")

    asyncio.run(scenario())
    assert log.deltas() == ["lost? no"]


def test_a_run_nobody_streams_writes_no_events() -> None:
    log = RecordingLog()

    async def scenario() -> None:
        stream = ReplyEventStream(RunEventPublisher(log), _run(streamed=False), flush_interval=lambda: 0.0)
        await stream.start(now=1.0)
        for piece in ["a", "b", "c"]:
            await stream.add(piece)
        await stream.flush()

    asyncio.run(scenario())
    assert log.appended == []


def test_a_reader_attaching_mid_reply_gets_the_announcement_and_all_text_so_far_at_once() -> None:
    log = RecordingLog()
    run = _run(streamed=False)

    async def scenario() -> None:
        stream = ReplyEventStream(RunEventPublisher(log), run, flush_interval=lambda: 3600.0)
        await stream.start(now=1.0)
        await stream.add("Hello")
        await stream.add(" there")
        run.stream_log_seq = 0  # what the status watch does when it sees the run marked streamed
        await stream.add(",")
        await stream.add(" you")
        await stream.flush()

    asyncio.run(scenario())
    names = [event.event for event in log.appended]
    assert names[:4] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ]
    assert log.deltas() == ["Hello there,", " you"]


@pytest.mark.parametrize(
    ("streaming_runs", "writes_per_second", "expected"),
    [(1, 100.0, MIN_FLUSH_SECONDS), (10, 100.0, MIN_FLUSH_SECONDS), (32, 100.0, 0.32), (200, 50.0, 4.0)],
)
def test_the_flush_interval_keeps_all_runs_within_the_write_budget(
    streaming_runs: int, writes_per_second: float, expected: float
) -> None:
    interval = delta_flush_seconds(streaming_runs, writes_per_second)
    assert interval == pytest.approx(expected)
    assert streaming_runs / interval <= writes_per_second + 1e-9
