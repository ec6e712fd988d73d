"""``fold_reply_step`` leaves a step out of the final write only when reads give that very step back."""

from __future__ import annotations

from dataclasses import replace

from assistants_core.domain import ids
from assistants_core.domain.models import Run, Usage
from assistants_core.domain.reply_steps import REPLY_STEP_FIELD, derived_reply_step, fold_reply_step
from assistants_core.domain.status import RunStatus
from gpu_worker.outcomes import Generation, StartedReply, failure_outcome, generation_outcome
from gpu_worker.tool_turns import reply_outcome

AT = 1_700_000_000.0


def _run(**overrides: object) -> Run:
    fields: dict[str, object] = {
        "id": ids.new_id(ids.RUN),
        "owner": "o",
        "thread_id": ids.new_id(ids.THREAD),
        "assistant_id": "asst_x",
        "created_at": int(AT),
        "status": RunStatus.IN_PROGRESS,
        "model": "m",
        "instructions": None,
        "expires_at": None,
    }
    return Run(**{**fields, **overrides})  # type: ignore[arg-type]


def test_completed_incomplete_and_failed_replies_fold_into_two_timestamps() -> None:
    run = _run()
    for outcome in (
        generation_outcome(run, Generation("hi", 3, 2, "stop"), AT + 5, started_at=AT + 1),
        generation_outcome(run, Generation("hi", 3, 2, "length"), AT + 5, started_at=AT + 1),
        failure_outcome(AT + 5, StartedReply(run, AT + 1, 0, "h")),
    ):
        fields, steps = fold_reply_step(run, outcome.target, outcome.fields, outcome.steps)
        assert steps == [] and fields[REPLY_STEP_FIELD] == [int(AT) + 1, int(AT) + 5]
        finished = replace(run, **{**fields, "status": outcome.target})
        assert derived_reply_step(finished) == outcome.steps[0]


def test_a_step_reads_would_not_give_back_is_written() -> None:
    run = _run()
    after_tool_turn = reply_outcome(
        replace(run, usage=Usage(4, 1)), 1, Generation("hi", 3, 2, "stop"), AT + 5, started_at=AT + 1
    )
    plain = generation_outcome(run, Generation("hi", 3, 2, "stop"), AT + 5, started_at=AT + 1)
    other_usage = {**plain.fields, "usage": Usage(9, 9)}  # the run's usage is not the step's
    for target, fields, steps in (
        (after_tool_turn.target, after_tool_turn.fields, after_tool_turn.steps),
        (plain.target, other_usage, plain.steps),
        (RunStatus.CANCELLED, {"cancelled_at": int(AT)}, plain.steps),
    ):
        assert fold_reply_step(run, target, fields, steps) == (fields, steps)


def test_nothing_is_derived_for_a_run_that_did_not_fold_its_step() -> None:
    assert derived_reply_step(_run(status=RunStatus.COMPLETED)) is None
    assert derived_reply_step(_run(status=RunStatus.CANCELLED, reply_step_at=[1, 2])) is None
