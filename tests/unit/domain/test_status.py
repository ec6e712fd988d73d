import pytest

from assistants_core.domain.status import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    TERMINAL_STATUSES,
    RunStatus,
    sources_for,
)


def test_every_status_has_a_transition_row() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(RunStatus)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_never_move(terminal: RunStatus) -> None:
    assert terminal.is_terminal
    assert ALLOWED_TRANSITIONS[terminal] == frozenset()


def test_active_and_terminal_partition_the_statuses() -> None:
    assert set(RunStatus) == ACTIVE_STATUSES | TERMINAL_STATUSES
    assert not ACTIVE_STATUSES & TERMINAL_STATUSES


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (RunStatus.QUEUED, RunStatus.IN_PROGRESS, True),
        (RunStatus.QUEUED, RunStatus.CANCELLED, True),
        (RunStatus.QUEUED, RunStatus.COMPLETED, False),
        (RunStatus.IN_PROGRESS, RunStatus.CANCELLING, True),
        (RunStatus.IN_PROGRESS, RunStatus.CANCELLED, False),
        (RunStatus.CANCELLING, RunStatus.CANCELLED, True),
        (RunStatus.CANCELLING, RunStatus.COMPLETED, False),
        (RunStatus.COMPLETED, RunStatus.CANCELLED, False),
        (RunStatus.IN_PROGRESS, RunStatus.IN_PROGRESS, True),
        (RunStatus.REQUIRES_ACTION, RunStatus.QUEUED, True),
        (RunStatus.REQUIRES_ACTION, RunStatus.CANCELLING, False),
    ],
)
def test_transition_table(source: RunStatus, target: RunStatus, allowed: bool) -> None:
    assert source.can_become(target) is allowed


def test_sources_for_inverts_the_table() -> None:
    assert sources_for(RunStatus.CANCELLED) == {
        RunStatus.QUEUED,
        RunStatus.REQUIRES_ACTION,
        RunStatus.CANCELLING,
    }
    assert sources_for(RunStatus.QUEUED) == {RunStatus.REQUIRES_ACTION}
    for target in RunStatus:
        for source in sources_for(target):
            assert source.can_become(target)


def test_status_values_are_openai_strings() -> None:
    assert [s.value for s in RunStatus] == [
        "queued",
        "in_progress",
        "requires_action",
        "cancelling",
        "cancelled",
        "failed",
        "completed",
        "incomplete",
        "expired",
    ]
