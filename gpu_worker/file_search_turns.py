"""Running a turn's ``file_search`` calls inside the claim that generated it, crash-safe.

``RunTurns.generate`` (``run_turns``) generates turns in a loop while a turn calls file_search:

1. before the first turn, ``stores_for`` reads the run's stores (``FileSearcher.store_ids``) and waits while
   one of them still ingests (polling with backoff, at most ``ingestion_wait_seconds``; then what is
   ``completed`` is searched);
2. a turn whose calls include file_search is not written as ``requires_action``: ``complete`` searches each
   of its file_search calls, streams their results as a step delta (a streamed run) and writes the turn's
   ``tool_calls`` step COMPLETED with them, the run's summed ``usage`` with it, in ONE conditional write
   that keeps the run ``in_progress`` and requires our lease (``RunRepository.finish_run`` with target
   ``in_progress``); the next turn reads the results as the calls' outputs.

Crash safety: the step and call ids derive from the run id and the turn (``tool_turns``), and a turn's
number counts the run's completed ``tool_calls`` steps. A worker killed before the write leaves nothing (the
next claimant searches again and writes the same ids); killed after it, the next claimant finds the step
completed and goes on with the next turn, so a call is never written twice. A duplicated delivery finds
the run held (``claim_run``) and a worker that lost its lease cannot write (the condition).

A turn that calls functions AND file_search (mixed): the searches run and the step is written with the
file_search calls only; the function calls are dropped, and the model, now seeing the results, calls what it
still needs in the next turn (whose arguments may depend on them). So a ``requires_action`` step only ever
holds function calls.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from assistants_core.domain.errors import ConflictError, StorageError
from assistants_core.domain.models import JSONDict, Run, RunStep, Usage
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.ports import Clock, RunRepository
from assistants_core.services.run_events import RunEventPublisher, step_delta_event, text_delta_event
from gpu_worker.backoff import Backoff
from gpu_worker.file_search import (
    FILE_SEARCH,
    FileSearcher,
    SearchOptions,
    SearchRenderer,
    file_search_call,
    is_search_call,
    queries_of,
)
from gpu_worker.file_search_citations import cite_reply
from gpu_worker.outcomes import RunOutcome
from gpu_worker.supervision import Blocking, RunInterruptedError
from gpu_worker.tool_turns import TOOL_CALLS_STEP

logger = logging.getLogger(__name__)

UNAVAILABLE_ERROR = {
    "code": "server_error",
    "message": "file_search is not available on this server: no embedding model is configured.",
}
RECORD_ATTEMPTS = 5


def search_step(outcome: RunOutcome) -> RunStep | None:
    """The turn's ``tool_calls`` step when one of its calls is a file_search (else None)."""
    for step in outcome.steps:
        calls = step.step_details.get("tool_calls", []) if step.type == TOOL_CALLS_STEP else []
        if any(is_search_call(call) for call in calls):
            return step
    return None


def unavailable_outcome(now: float) -> RunOutcome:
    """The run has the file_search tool but this worker has no embedding model (a deployment error)."""
    return RunOutcome(RunStatus.FAILED, {"failed_at": int(now), "last_error": dict(UNAVAILABLE_ERROR)})


class FileSearchTurns:
    def __init__(
        self,
        searcher: FileSearcher,
        runs: RunRepository,
        events: RunEventPublisher,
        blocking: Blocking,
        *,
        worker_id: str,
        clock: Clock,
        ingestion_wait_seconds: float,
        poll_seconds: float = 0.2,
        max_poll_seconds: float = 5.0,
    ) -> None:
        self._searcher = searcher
        self._runs = runs
        self._events = events
        self._blocking = blocking
        self._worker_id = worker_id
        self._clock = clock
        self._ingestion_wait_seconds = ingestion_wait_seconds
        self._poll_seconds = poll_seconds
        self._max_poll_seconds = max_poll_seconds

    async def stores_for(self, run: Run) -> list[str]:
        """The run's stores, once none of them ingests any more (or the wait ran out)."""
        store_ids: list[str] = await self._blocking(self._searcher.store_ids, run)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ingestion_wait_seconds
        backoff = Backoff(self._poll_seconds, self._max_poll_seconds)
        while store_ids and await self._blocking(self._searcher.ingesting, store_ids):
            left = deadline - loop.time()
            if left <= 0:
                logger.warning(
                    "file_search: stores still ingesting; searching what is completed",
                    extra={"run_id": run.id, "vector_store_ids": store_ids},
                )
                break
            await asyncio.sleep(min(backoff.next(), left))
        return store_ids

    async def complete(
        self, run: Run, outcome: RunOutcome, step: RunStep, store_ids: list[str], newest_user_text: str
    ) -> tuple[RunStep, RunOutcome | None]:
        """Search the turn's file_search calls and record the step completed. Returns the step written and
        None to go on with the next turn, or the outcome the run ends with instead (it was cancelled)."""
        options = SearchOptions.of(run)
        calls, streamed_indexes = [], []
        for index, call in enumerate(step.step_details.get("tool_calls", [])):
            if not is_search_call(call):
                continue  # a mixed turn's function calls are dropped (module docstring)
            queries = queries_of(str(call[FILE_SEARCH].get("arguments", "")), newest_user_text)
            hits = (
                await self._blocking(self._searcher.search, run, store_ids, queries, options)
                if queries and store_ids
                else []
            )
            calls.append(file_search_call(call["id"], queries, options, hits))
            streamed_indexes.append(index)
        await self._publish_results(run, step.id, calls, streamed_indexes)
        completed = replace(
            step,
            status=StepStatus.COMPLETED,
            completed_at=int(self._clock.now()),
            step_details={"type": TOOL_CALLS_STEP, "tool_calls": calls},
        )
        usage: Usage = outcome.fields["usage"]
        return completed, await self._record(run, completed, usage)

    async def _publish_results(
        self, run: Run, step_id: str, calls: list[JSONDict], indexes: list[int]
    ) -> None:
        """The results as one step delta before the step completes: the SDK's stream helpers build a step
        from its created event and deltas only. ``queries`` stay private (the API shapes the rest)."""
        entries = [
            {
                "index": index,
                "type": FILE_SEARCH,
                FILE_SEARCH: {key: value for key, value in call[FILE_SEARCH].items() if key != "queries"},
            }
            for index, call in zip(indexes, calls, strict=True)
        ]
        delta = step_delta_event(
            step_id, {"step_details": {"type": TOOL_CALLS_STEP, "tool_calls": entries}}, run.attempts
        )
        try:
            await self._blocking(self._events.publish, run, [delta])
        except Exception:  # the completed step event still carries them
            logger.warning("file_search results delta write failed", extra={"run_id": run.id})

    async def cited(
        self, run: Run, outcome: RunOutcome, renderer: SearchRenderer, *, fallback: bool
    ) -> RunOutcome:
        """A reply after searches with its citations (``file_search_citations``); fallback markers appended
        to it stream as the message's last delta."""
        cited = cite_reply(outcome, renderer.sources, renderer.shown, fallback=fallback)
        message = cited.outcome.message
        if cited.appended and message is not None:
            delta = text_delta_event(message.id, cited.appended, run.attempts)
            try:
                await self._blocking(self._events.publish, run, [delta])
            except Exception:  # the final write still carries the whole text
                logger.warning("citation delta write failed", extra={"run_id": run.id})
        return cited.outcome

    async def _record(self, run: Run, step: RunStep, usage: Usage) -> RunOutcome | None:
        """The step and the summed usage, the run staying ``in_progress`` under our lease."""
        backoff = Backoff(self._poll_seconds, self._max_poll_seconds)
        for _ in range(RECORD_ATTEMPTS):
            try:
                await self._blocking(
                    self._runs.finish_run,
                    run,
                    RunStatus.IN_PROGRESS,
                    fields={"usage": usage},
                    worker_id=self._worker_id,
                    message=None,
                    steps=[step],
                )
            except ConflictError:
                current = await self._blocking(self._runs.find_run, run.thread_id, run.id)
                if current is None or current.status.is_terminal:
                    raise RunInterruptedError("run finished elsewhere", None, delete_message=True) from None
                if current.lease_owner != self._worker_id:
                    raise RunInterruptedError("lease lost", None, delete_message=False) from None
                if current.status == RunStatus.CANCELLING:
                    return self._cancelled(step)
                if current.streamed and not run.streamed:
                    run.stream_log_seq = current.stream_log_seq  # a reader attached: write with events
                    continue
                await asyncio.sleep(backoff.next())  # a transaction conflict may pass
                continue
            run.usage = usage  # every holder of this run (watch, heartbeat, final write) sees the sum
            return None
        raise StorageError(f"the file_search step of run '{run.id}' could not be written")

    def _cancelled(self, step: RunStep) -> RunOutcome:
        """Cancelled while searching: the run ends ``cancelled`` and so does the step it had announced."""
        now = int(self._clock.now())
        ended = replace(step, status=StepStatus.CANCELLED, completed_at=None, cancelled_at=now)
        return RunOutcome(RunStatus.CANCELLED, {"cancelled_at": now}, None, [ended])
