"""The plain reply's ``message_creation`` step, derived from its run instead of stored.

A run that replies without tool-call turns before the reply (the common case) has exactly one step: the
``message_creation`` step of its reply (ids ``ids.derived_id(STEP | MESSAGE, run.id)``). Every field of
that step follows from the run's final fields plus two timestamps, the step's ``created_at`` and the time
it ended (an ``incomplete`` run records no end time of its own). So the worker's final write can store
those two numbers on the run (``Run.reply_step_at``) instead of putting a step item (2 WRU in the
transaction), and reads put the step back where it sorts among the stored ones.

The step is left out of a write only when ``derived_reply_step`` gives it back exactly
(``fold_reply_step``), so list and retrieve answer the same either way; a run without ``reply_step_at``
(written before, or with the switch off) keeps its stored step. Stream events are built from the step
itself, before this (``EventedRunRepository``), and do not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.models import Page, PageRequest, Run, RunStep
from assistants_core.domain.status import RunStatus, StepStatus

MESSAGE_CREATION = "message_creation"
REPLY_STEP_FIELD = "reply_step_at"
# The status the reply's step ended with, per final run status (other statuses have no reply step).
_STEP_STATUS = {
    RunStatus.COMPLETED: StepStatus.COMPLETED,
    RunStatus.INCOMPLETE: StepStatus.COMPLETED,  # the token budget ran out: the step still completed
    RunStatus.FAILED: StepStatus.FAILED,
}


def plain_reply_step_id(run_id: str) -> str:
    return ids.derived_id(ids.STEP, run_id)


def message_creation_step(
    run: Run, step_id: str, message_id: str, created_at: int, status: StepStatus
) -> RunStep:
    """A ``message_creation`` step of ``run`` for message ``message_id`` (no end fields set)."""
    return RunStep(
        id=step_id,
        owner=run.owner,
        thread_id=run.thread_id,
        run_id=run.id,
        assistant_id=run.assistant_id,
        created_at=created_at,
        type=MESSAGE_CREATION,
        status=status,
        step_details={"type": MESSAGE_CREATION, MESSAGE_CREATION: {"message_id": message_id}},
    )


def derived_reply_step(run: Run) -> RunStep | None:
    """The run's plain reply step, when its final write left it to be derived (else None)."""
    status = _STEP_STATUS.get(run.status)
    if run.reply_step_at is None or status is None:
        return None
    created_at, ended_at = run.reply_step_at
    message_id = ids.derived_id(ids.MESSAGE, run.id)
    step = message_creation_step(run, plain_reply_step_id(run.id), message_id, created_at, status)
    if status is StepStatus.FAILED:
        last_error = dict(run.last_error) if run.last_error is not None else None
        return replace(step, failed_at=ended_at, last_error=last_error)
    return replace(step, completed_at=ended_at, usage=run.usage)


def fold_reply_step(
    run: Run, target: RunStatus, fields: Mapping[str, Any], steps: list[RunStep]
) -> tuple[dict[str, Any], list[RunStep]]:
    """A final write's run ``fields`` and ``steps`` with the plain reply step left out and its two
    timestamps added to the fields, when reads derive exactly that step from the run as the write leaves
    it; otherwise both unchanged."""
    step_id = plain_reply_step_id(run.id)
    step = next((step for step in steps if step.id == step_id), None)
    ended_at = None if step is None else step.completed_at or step.failed_at
    if step is None or ended_at is None:
        return dict(fields), steps
    folded = {**fields, REPLY_STEP_FIELD: [step.created_at, ended_at]}
    finished = replace(run, **{**folded, "status": target})
    if derived_reply_step(finished) != step:
        return dict(fields), steps
    return folded, [other for other in steps if other is not step]


def with_derived_step(page: Page[RunStep], derived: RunStep | None, request: PageRequest) -> Page[RunStep]:
    """``page`` of stored steps (one ``list_page`` answer for ``request``) with the derived step put where it
    sorts, when it lies within the cursors: the page keeps ``request.limit`` steps, dropping the one
    farthest from where the page starts (its first step; the last before ``before`` for a page that ends
    at ``before`` alone), and then has more."""
    if derived is None or not _within_cursors(derived.id, request):
        return page
    if any(step.id == derived.id for step in page.data):
        return page
    descending = request.order == "desc"
    merged = sorted([*page.data, derived], key=lambda step: step.id, reverse=descending)
    if len(merged) <= request.limit:
        return Page(data=merged, has_more=page.has_more)
    ends_at_before = request.before is not None and request.after is None
    return Page(data=merged[1:] if ends_at_before else merged[:-1], has_more=True)


def _within_cursors(step_id: str, request: PageRequest) -> bool:
    """Whether ``step_id`` lies strictly between the cursors (ids sort as the steps' sort keys)."""
    if request.order == "desc":
        return (request.after is None or step_id < request.after) and (
            request.before is None or step_id > request.before
        )
    return (request.after is None or step_id > request.after) and (
        request.before is None or step_id < request.before
    )
