"""Scenario helpers: a fake clock and a ``World`` over the moto-backed repositories and queue
(tests/conftest.py) that seeds threads and runs and builds consumers wired as the worker wires them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunEventLog,
    DynamoRunRepository,
    DynamoTable,
    DynamoThreadRepository,
)
from assistants_core.adapters.dynamodb.run_status import DynamoRunStatusReader
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.domain import ids
from assistants_core.domain.models import Message, Run, Thread
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunRef
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.run_events import RunEventPublisher
from gpu_worker.consumer import ConsumerConfig, RunConsumer
from gpu_worker.engines.base import Engine
from gpu_worker.file_search import FileSearcher

OWNER = "tenant-worker"


class FakeClock:
    """Starts at the real time (so ``created_at`` / ``expires_at`` mean something); moves only on demand."""

    def __init__(self) -> None:
        self.value = time.time()

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


FAST_CONFIG = ConsumerConfig(
    max_concurrent_runs=32,
    lease_seconds=60,
    heartbeat_seconds=0.05,
    cancel_poll_seconds=0.02,
    receive_wait_seconds=0,
    busy_poll_seconds=0.01,
    default_max_completion_tokens=512,
    drain_seconds=5.0,
)


def text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


@dataclass
class World:
    threads: DynamoThreadRepository
    messages: DynamoMessageRepository
    runs: DynamoRunRepository
    queue: SqsRunQueue
    clock: FakeClock
    events: DynamoRunEventLog
    table: DynamoTable
    created: list[Run] = field(default_factory=list)

    def thread_with_messages(self, *texts: str, tool_resources: dict[str, Any] | None = None) -> Thread:
        thread = Thread(
            id=ids.new_id(ids.THREAD),
            owner=OWNER,
            created_at=int(self.clock.now()),
            tool_resources=tool_resources,
        )
        messages = [
            Message(
                id=ids.new_id(ids.MESSAGE),
                owner=OWNER,
                thread_id=thread.id,
                created_at=int(self.clock.now()),
                role="user",
                content=text_content(text),
            )
            for text in texts
        ]
        self.threads.create_thread(thread, messages)
        return thread

    def new_run(self, thread: Thread, *, enqueue: bool = True, **overrides: Any) -> Run:
        now = int(self.clock.now())
        values: dict[str, Any] = {
            "id": ids.new_id(ids.RUN),
            "owner": OWNER,
            "thread_id": thread.id,
            "assistant_id": "asst_worker",
            "created_at": now,
            "status": RunStatus.QUEUED,
            "model": "scripted",
            "instructions": "Be brief.",
            "expires_at": now + 600,
        }
        run = Run(**{**values, **overrides})
        self.runs.create_run(run, [])
        if enqueue:
            self.enqueue(run)
        self.created.append(run)
        return run

    def cancelling_run_of_a_dead_worker(self, thread: Thread) -> Run:
        """A run claimed by worker ``dead`` and then cancelled by its user; ``dead`` never writes again."""
        run = self.new_run(thread, enqueue=False)
        claimed = self.runs.claim_run(
            thread.id, run.id, worker_id="dead", lease_seconds=60, now=self.clock.now()
        )
        assert claimed is not None
        self.runs.transition_run(claimed, RunStatus.CANCELLING)
        return run

    def enqueue(self, run: Run) -> None:
        self.queue.enqueue_run(RunRef(thread_id=run.thread_id, run_id=run.id))

    def stored(self, run: Run) -> Run:
        found = self.runs.find_run(run.thread_id, run.id)
        assert found is not None
        return found

    def assistant_messages(self, thread: Thread) -> list[Message]:
        return [m for m in self.messages.list_thread_messages(thread.id) if m.role == "assistant"]

    def consumer(
        self,
        engine: Engine,
        *,
        worker_id: str = "worker-a",
        config: ConsumerConfig = FAST_CONFIG,
        file_searcher: FileSearcher | None = None,
    ) -> RunConsumer:
        return RunConsumer(
            self.queue,
            with_run_events(self.runs, self.events),
            self.messages,
            engine,
            events=RunEventPublisher(self.events),
            config=config,
            clock=self.clock,
            worker_id=worker_id,
            statuses=DynamoRunStatusReader(self.table),
            file_searcher=file_searcher,
        )


async def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Poll ``condition`` on the event loop (a safety net against hangs, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)
