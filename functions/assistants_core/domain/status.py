"""Run and run-step statuses with the allowed transitions (enforced by conditional writes)."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    def can_become(self, target: RunStatus) -> bool:
        return target in ALLOWED_TRANSITIONS[self]


TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.COMPLETED, RunStatus.INCOMPLETE, RunStatus.EXPIRED}
)
ACTIVE_STATUSES: frozenset[RunStatus] = frozenset(set(RunStatus) - TERMINAL_STATUSES)

ALLOWED_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset(
        {RunStatus.IN_PROGRESS, RunStatus.CANCELLED, RunStatus.EXPIRED, RunStatus.FAILED}
    ),
    # in_progress -> in_progress is a re-claim after the previous worker's lease expired.
    RunStatus.IN_PROGRESS: frozenset(
        {
            RunStatus.IN_PROGRESS,
            RunStatus.COMPLETED,
            RunStatus.FAILED,
            RunStatus.INCOMPLETE,
            RunStatus.REQUIRES_ACTION,
            RunStatus.CANCELLING,
            RunStatus.EXPIRED,
        }
    ),
    # No worker holds a run waiting for tool outputs: a cancel ends it at once (no ``cancelling``).
    RunStatus.REQUIRES_ACTION: frozenset(
        {RunStatus.QUEUED, RunStatus.CANCELLED, RunStatus.EXPIRED, RunStatus.FAILED}
    ),
    RunStatus.CANCELLING: frozenset({RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.EXPIRED}),
    RunStatus.CANCELLED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.INCOMPLETE: frozenset(),
    RunStatus.EXPIRED: frozenset(),
}


def sources_for(target: RunStatus) -> frozenset[RunStatus]:
    """Every status from which ``target`` may be reached (used to build ConditionExpressions)."""
    return frozenset(source for source, targets in ALLOWED_TRANSITIONS.items() if target in targets)


class StepStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    EXPIRED = "expired"
