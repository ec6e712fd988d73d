"""The worker's side of the run repository: finish_run, steps, the active-run index, run pagination."""

from __future__ import annotations

from typing import Any

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunRepository,
    DynamoThreadRepository,
)
from assistants_core.domain import ids
from assistants_core.domain.errors import ConflictError, InvalidRunStateError, NotFoundError
from assistants_core.domain.models import Message, PageRequest, Run, RunStep, Thread, Usage
from assistants_core.domain.status import RunStatus, StepStatus
from infra.aws_resources import ResourceNames
from tests.contract.factories import OTHER_OWNER, OWNER, make_message, make_run, make_thread, now
from tests.contract.pagination import assert_paginates


def claimed_run(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository, **overrides: Any
) -> tuple[Thread, Run]:
    thread = make_thread()
    thread_repo.create_thread(thread, [make_message(thread, "question")])
    run = make_run(thread, **overrides)
    run_repo.create_run(run, [])
    claimed = run_repo.claim_run(thread.id, run.id, worker_id="w1", lease_seconds=60, now=now())
    assert claimed is not None
    return thread, claimed


def reply_for(run: Run, text: str) -> Message:
    return Message(
        id=ids.derived_id(ids.MESSAGE, run.id),
        owner=run.owner,
        thread_id=run.thread_id,
        created_at=now(),
        role="assistant",
        content=[{"type": "text", "text": {"value": text, "annotations": []}}],
        assistant_id=run.assistant_id,
        run_id=run.id,
    )


def step_for(run: Run, message_id: str, status: StepStatus = StepStatus.COMPLETED) -> RunStep:
    return RunStep(
        id=ids.derived_id(ids.STEP, run.id),
        owner=run.owner,
        thread_id=run.thread_id,
        run_id=run.id,
        assistant_id=run.assistant_id,
        created_at=now(),
        type="message_creation",
        status=status,
        step_details={"type": "message_creation", "message_creation": {"message_id": message_id}},
        completed_at=now(),
        usage=Usage(prompt_tokens=3, completion_tokens=2),
    )


def finish_completed(run_repo: DynamoRunRepository, run: Run, text: str, worker_id: str = "w1") -> Run:
    reply = reply_for(run, text)
    return run_repo.finish_run(
        run,
        RunStatus.COMPLETED,
        fields={"completed_at": now(), "usage": Usage(prompt_tokens=3, completion_tokens=2)},
        worker_id=worker_id,
        message=reply,
        steps=[step_for(run, reply.id)],
    )


def test_finish_writes_reply_step_usage_and_releases_the_lock(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository, run_repo: DynamoRunRepository
) -> None:
    thread, run = claimed_run(thread_repo, run_repo)
    finished = finish_completed(run_repo, run, "answer")

    stored = run_repo.get_run(OWNER, thread.id, run.id)
    assert stored == finished
    assert (stored.status, stored.usage) == (RunStatus.COMPLETED, Usage(prompt_tokens=3, completion_tokens=2))
    assert stored.completed_at is not None
    assert [m.text() for m in message_repo.list_thread_messages(thread.id)] == ["question", "answer"]
    steps = run_repo.list_steps(OWNER, thread.id, run.id, PageRequest())
    assert [step.step_details["message_creation"]["message_id"] for step in steps.data] == [
        reply_for(run, "").id
    ]
    assert run_repo.get_step(OWNER, thread.id, run.id, steps.data[0].id) == steps.data[0]
    assert thread_repo.get_thread(OWNER, thread.id).active_run_id is None
    assert run.id not in [active.id for active in run_repo.list_active_runs()]


def test_duplicate_finish_is_a_conflict_and_leaves_one_reply(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository, run_repo: DynamoRunRepository
) -> None:
    thread, run = claimed_run(thread_repo, run_repo)
    finish_completed(run_repo, run, "first answer")
    with pytest.raises(ConflictError):
        finish_completed(run_repo, run, "second answer")
    assert [m.text() for m in message_repo.list_thread_messages(thread.id)] == ["question", "first answer"]


def test_finish_by_a_worker_that_lost_the_lease_is_a_conflict(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository, run_repo: DynamoRunRepository
) -> None:
    thread, run = claimed_run(thread_repo, run_repo)
    later = (run.lease_expires_at or 0) + 1
    reclaimed = run_repo.claim_run(thread.id, run.id, worker_id="w2", lease_seconds=60, now=later)
    assert reclaimed is not None

    with pytest.raises(ConflictError):
        finish_completed(run_repo, run, "stale worker", worker_id="w1")
    assert run_repo.get_run(OWNER, thread.id, run.id).status == RunStatus.IN_PROGRESS
    assert thread_repo.get_thread(OWNER, thread.id).active_run_id == run.id

    finish_completed(run_repo, reclaimed, "new worker", worker_id="w2")
    assert [m.text() for m in message_repo.list_thread_messages(thread.id)] == ["question", "new worker"]


def test_cancelling_run_cannot_complete_but_can_be_cancelled_without_reply(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository, run_repo: DynamoRunRepository
) -> None:
    thread, run = claimed_run(thread_repo, run_repo)
    run_repo.transition_run(run, RunStatus.CANCELLING)
    with pytest.raises(ConflictError):
        finish_completed(run_repo, run, "too late")
    with pytest.raises(InvalidRunStateError):
        run_repo.finish_run(run, RunStatus.QUEUED, fields={}, worker_id="w1", message=None, steps=[])

    cancelled = run_repo.finish_run(
        run,
        RunStatus.CANCELLED,
        fields={"cancelled_at": now()},
        worker_id="w1",
        message=None,
        steps=[step_for(run, "msg_none", StepStatus.CANCELLED)],
    )
    assert run_repo.get_run(OWNER, thread.id, run.id) == cancelled
    assert cancelled.status == RunStatus.CANCELLED
    assert [m.text() for m in message_repo.list_thread_messages(thread.id)] == ["question"]
    assert thread_repo.get_thread(OWNER, thread.id).active_run_id is None


def test_finish_succeeds_when_the_sweeper_already_released_the_lock(
    aws_clients: AwsClients,
    aws_resources: ResourceNames,
    thread_repo: DynamoThreadRepository,
    run_repo: DynamoRunRepository,
) -> None:
    thread, run = claimed_run(thread_repo, run_repo)
    aws_clients.dynamodb.update_item(
        TableName=aws_resources.table_name,
        Key={"PK": {"S": f"THREAD#{thread.id}"}, "SK": {"S": "THREAD"}},
        UpdateExpression="REMOVE active_run_id",
    )
    finish_completed(run_repo, run, "answer")
    assert run_repo.get_run(OWNER, thread.id, run.id).status == RunStatus.COMPLETED


def test_list_active_runs_soonest_expiry_first_and_terminal_runs_leave(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository
) -> None:
    base = now()
    runs = []
    for offset in (300, 100, 200):
        thread = make_thread()
        thread_repo.create_thread(thread, [])
        run = make_run(thread, expires_at=base + offset)
        run_repo.create_run(run, [])
        runs.append(run)
    late, soon, middle = runs
    assert [run.id for run in run_repo.list_active_runs()] == [soon.id, middle.id, late.id]
    assert [run.id for run in run_repo.list_active_runs(limit=2)] == [soon.id, middle.id]

    run_repo.transition_run(soon, RunStatus.EXPIRED)
    claimed = run_repo.claim_run(middle.thread_id, middle.id, worker_id="w", lease_seconds=60, now=now())
    assert claimed is not None
    active = run_repo.list_active_runs()
    assert [(run.id, run.status) for run in active] == [
        (middle.id, RunStatus.IN_PROGRESS),
        (late.id, RunStatus.QUEUED),
    ]

    # Moving the expiry re-sorts the run in the index.
    run_repo.transition_run(late, RunStatus.IN_PROGRESS, fields={"expires_at": base})
    assert [run.id for run in run_repo.list_active_runs()] == [late.id, middle.id]


def test_runs_and_steps_paginate(thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    created = []
    for _ in range(7):
        run = make_run(thread)
        run_repo.create_run(run, [])
        run_repo.transition_run(run, RunStatus.CANCELLED)
        created.append(run.id)
    assert_paginates(lambda page: run_repo.list_runs(OWNER, thread.id, page), created)

    run = make_run(thread)
    run_repo.create_run(run, [])
    claimed = run_repo.claim_run(thread.id, run.id, worker_id="w", lease_seconds=60, now=now())
    assert claimed is not None
    steps = [_step(run, index) for index in range(7)]
    run_repo.finish_run(claimed, RunStatus.IN_PROGRESS, fields={}, worker_id="w", message=None, steps=steps)
    assert_paginates(lambda page: run_repo.list_steps(OWNER, thread.id, run.id, page), [s.id for s in steps])
    assert run_repo.list_steps(OWNER, thread.id, created[0], PageRequest()).data == []
    with pytest.raises(NotFoundError):
        run_repo.get_step(OTHER_OWNER, thread.id, run.id, steps[0].id)
    with pytest.raises(NotFoundError):
        run_repo.list_steps(OWNER, thread.id, "run_missing", PageRequest())


def _step(run: Run, index: int) -> RunStep:
    step = step_for(run, f"msg_{index}", StepStatus.IN_PROGRESS)
    step.id = ids.new_id(ids.STEP)
    return step


REQUIRED_ACTION = {
    "type": "submit_tool_outputs",
    "submit_tool_outputs": {"tool_calls": [{"id": "call_1", "type": "function"}]},
}


@pytest.mark.parametrize(
    "target", [RunStatus.QUEUED, RunStatus.CANCELLED, RunStatus.EXPIRED, RunStatus.FAILED]
)
def test_leaving_requires_action_clears_required_action(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository, target: RunStatus
) -> None:
    """Only a waiting run shows its pending calls: answered, cancelled, expired or failed runs do not."""
    _, run = claimed_run(thread_repo, run_repo)
    waiting = run_repo.finish_run(
        run,
        RunStatus.REQUIRES_ACTION,
        fields={"required_action": REQUIRED_ACTION, "lease_owner": None, "lease_expires_at": None},
        worker_id="w1",
        message=None,
        steps=[],
    )
    assert waiting.required_action == REQUIRED_ACTION
    assert run_repo.get_run(OWNER, run.thread_id, run.id).required_action == REQUIRED_ACTION

    moved = run_repo.transition_run(waiting, target)

    assert (moved.status, moved.required_action) == (target, None)
    stored = run_repo.get_run(OWNER, run.thread_id, run.id)
    assert (stored.status, stored.required_action) == (target, None)


def test_a_worker_finish_from_in_progress_leaves_no_required_action(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository
) -> None:
    """A finish that passes ``required_action: None`` for a non-waiting target must not set and remove it."""
    _, run = claimed_run(thread_repo, run_repo)
    failed = run_repo.finish_run(
        run,
        RunStatus.FAILED,
        fields={"required_action": None, "failed_at": now()},
        worker_id="w1",
        message=None,
        steps=[],
    )
    assert failed.required_action is None
    assert run_repo.get_run(OWNER, run.thread_id, run.id).required_action is None
