"""A run in ``requires_action`` waits for its client's tool outputs: no worker holds it, its ``tool_calls``
step is in_progress. These helpers find that step and end the wait (cancel, expiry) together with it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from assistants_core.domain.models import PageRequest, Run, RunStep
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.ports import RunRepository

TOOL_CALLS_STEP = "tool_calls"


def pending_tool_calls(run: Run) -> list[dict[str, Any]]:
    action = run.required_action or {}
    calls: list[dict[str, Any]] = action.get("submit_tool_outputs", {}).get("tool_calls", [])
    return calls


def find_pending_step(runs: RunRepository, run: Run) -> RunStep | None:
    """The in_progress ``tool_calls`` step whose calls the run waits for."""
    pending = {call["id"] for call in pending_tool_calls(run)}
    steps = runs.list_steps(run.owner, run.thread_id, run.id, PageRequest(limit=100, order="desc")).data
    for step in steps:
        call_ids = {call.get("id") for call in step.step_details.get("tool_calls", [])}
        if step.type == TOOL_CALLS_STEP and step.status == StepStatus.IN_PROGRESS and call_ids == pending:
            return step
    return None


def stopped_wait_steps(runs: RunRepository, run: Run, status: StepStatus, now: int) -> list[RunStep]:
    """The pending ``tool_calls`` step as it ends when the run stops waiting (``cancelled`` / ``expired``);
    empty for a run that is not waiting."""
    if run.status != RunStatus.REQUIRES_ACTION:
        return []
    step = find_pending_step(runs, run)
    if step is None:
        return []
    if status == StepStatus.CANCELLED:
        return [replace(step, status=status, cancelled_at=now)]
    return [replace(step, status=status, expired_at=now)]


def cancel_waiting_run(runs: RunRepository, run: Run, now: int) -> Run:
    """``requires_action -> cancelled`` at once (nothing to abort), the step cancelled in the same write."""
    steps = stopped_wait_steps(runs, run, StepStatus.CANCELLED, now)
    return runs.transition_run(run, RunStatus.CANCELLED, fields={"cancelled_at": now}, step_updates=steps)
