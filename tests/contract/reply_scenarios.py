"""A run ended in each way the worker ends one, by the worker's own outcome builders, so that the same run
(same run id, hence the same step and message ids, same clock) can be finished in two threads: once with
the plain reply step stored, once with it derived from the run (``domain.reply_steps``). Whatever list and
retrieve answer for the two must be the same."""

from __future__ import annotations

from dataclasses import dataclass

from assistants_core.adapters.dynamodb import DynamoRunRepository, DynamoTable, DynamoThreadRepository
from assistants_core.domain import ids
from assistants_core.domain.models import Run, Thread
from assistants_core.domain.status import RunStatus
from assistants_core.services.tool_outputs import answered_step
from gpu_worker.outcomes import (
    Generation,
    RunOutcome,
    StartedReply,
    cancelled_outcome,
    failure_outcome,
    generation_outcome,
)
from gpu_worker.tool_calls import ParsedCall
from gpu_worker.tool_turns import reply_outcome, tool_calls_outcome
from tests.contract.factories import make_message, make_run, make_thread

SCENARIOS = ("completed", "incomplete", "failed_with_reply", "failed", "cancelled", "tool_turns")
# The scenarios whose run ends with a plain reply step (the others have none, or a reply after tool turns).
PLAIN_REPLY = frozenset({"completed", "incomplete", "failed_with_reply"})
WORKER = "w-scenario"


@dataclass(frozen=True)
class Finished:
    thread: Thread
    run: Run


def new_run_id() -> str:
    return ids.new_id(ids.RUN)


def finish_scenario(table: DynamoTable, scenario: str, run_id: str, at: float, *, derive: bool) -> Finished:
    """A new thread with one message and run ``run_id`` (created at ``at``), ended as ``scenario`` says by
    a worker whose repository derives the plain reply step or stores it (``derive``)."""
    threads, runs = DynamoThreadRepository(table), DynamoRunRepository(table, derive_reply_steps=derive)
    thread = make_thread()
    threads.create_thread(thread, [make_message(thread, "question")])
    run = make_run(thread, id=run_id, created_at=int(at), expires_at=int(at) + 600)
    runs.create_run(run, [])
    claimed = _claim(runs, run, at)
    if scenario == "tool_turns":
        call = ParsedCall(name="lookup", arguments='{"q": "x"}')
        calling = tool_calls_outcome(claimed, 0, [call], Generation("", 9, 4, "stop"), at + 2)
        waiting = _finish(runs, claimed, calling)
        (step,) = calling.steps
        outputs = {tool_call["id"]: "42" for tool_call in step.step_details["tool_calls"]}
        queued = runs.transition_run(
            waiting, RunStatus.QUEUED, step_updates=[answered_step(step, outputs, int(at) + 3)]
        )
        claimed = _claim(runs, queued, at + 4)
        generation = Generation("after the call", 20, 6, "stop")
        _finish(runs, claimed, reply_outcome(claimed, 1, generation, at + 6, started_at=at + 5))
        return Finished(thread, claimed)
    if scenario == "cancelled":
        claimed = runs.transition_run(claimed, RunStatus.CANCELLING)
    outcome = {
        "completed": lambda: generation_outcome(
            claimed, Generation("an answer", 11, 7, "stop"), at + 3, started_at=at + 1
        ),
        "incomplete": lambda: generation_outcome(
            claimed, Generation("an answer cut", 11, 16, "length"), at + 3, started_at=at + 1
        ),
        "failed_with_reply": lambda: failure_outcome(at + 3, StartedReply(claimed, at + 1, 0, "partial")),
        "failed": lambda: failure_outcome(at + 3),
        "cancelled": lambda: cancelled_outcome(at + 3),
    }[scenario]()
    _finish(runs, claimed, outcome)
    return Finished(thread, claimed)


def _claim(runs: DynamoRunRepository, run: Run, at: float) -> Run:
    claimed = runs.claim_run(run.thread_id, run.id, worker_id=WORKER, lease_seconds=60, now=at)
    assert claimed is not None
    return claimed


def _finish(runs: DynamoRunRepository, run: Run, outcome: RunOutcome) -> Run:
    return runs.finish_run(
        run,
        outcome.target,
        fields=outcome.fields,
        worker_id=WORKER,
        message=outcome.message,
        steps=outcome.steps,
    )
