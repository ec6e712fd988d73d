from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunRepository,
    DynamoThreadRepository,
)
from assistants_core.domain.errors import (
    InvalidRequestError,
    InvalidRunStateError,
    NotFoundError,
    ThreadBusyError,
)
from assistants_core.domain.models import PageRequest, Thread, Usage
from assistants_core.domain.status import ALLOWED_TRANSITIONS, RunStatus
from infra.aws_resources import ResourceNames
from tests.contract.bodies import partition_sort_keys
from tests.contract.factories import OTHER_OWNER, OWNER, make_message, make_run, make_thread, now


@pytest.fixture
def thread(thread_repo: DynamoThreadRepository) -> Thread:
    created = make_thread()
    thread_repo.create_thread(created, [])
    return created


def test_every_field_round_trips(thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    run = make_run(
        thread,
        additional_instructions="also",
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"x": 1.5}}}],
        metadata={"k": "v"},
        temperature=0.7,
        top_p=0.9,
        max_prompt_tokens=1000,
        max_completion_tokens=200,
        truncation_strategy={"type": "last_messages", "last_messages": 4},
        tool_choice={"type": "function", "function": {"name": "f"}},
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
        incomplete_details={"reason": "max_completion_tokens"},
        last_error={"code": "server_error", "message": "boom"},
        usage=Usage(prompt_tokens=10, completion_tokens=5),
        lease_owner="w",
        lease_expires_at=123.5,
        attempts=2,
        started_at=now(),
    )
    run_repo.create_run(run, [])
    assert run_repo.get_run(OWNER, thread.id, run.id) == run
    assert run_repo.find_run(thread.id, run.id) == run
    assert run_repo.find_run(thread.id, "run_missing") is None

    run.metadata = {"k": "changed"}
    run_repo.replace_run_metadata(run)
    assert run_repo.get_run(OWNER, thread.id, run.id).metadata == {"k": "changed"}


def test_other_tenant_gets_not_found_and_changes_nothing(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository
) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    run = make_run(thread, metadata={"k": "v"})
    run_repo.create_run(run, [])
    foreign = make_run(thread, owner=OTHER_OWNER, id=run.id, metadata={"k": "stolen"})

    with pytest.raises(NotFoundError):
        run_repo.get_run(OTHER_OWNER, thread.id, run.id)
    with pytest.raises(NotFoundError):
        run_repo.list_runs(OTHER_OWNER, thread.id, PageRequest())
    with pytest.raises(NotFoundError):
        run_repo.replace_run_metadata(foreign)
    with pytest.raises(NotFoundError):
        run_repo.transition_run(foreign, RunStatus.CANCELLED)
    with pytest.raises(NotFoundError):
        run_repo.create_run(make_run(thread, owner=OTHER_OWNER), [])
    with pytest.raises(NotFoundError):
        run_repo.list_steps(OTHER_OWNER, thread.id, run.id, PageRequest())
    assert run_repo.get_run(OWNER, thread.id, run.id) == run


def test_create_run_with_new_thread_and_additional_messages(
    run_repo: DynamoRunRepository, thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread = make_thread()
    messages = [make_message(thread, "one"), make_message(thread, "two")]
    run = make_run(thread)
    run_repo.create_run(run, messages, new_thread=thread)

    assert thread_repo.get_thread(OWNER, thread.id).active_run_id == run.id
    assert message_repo.list_thread_messages(thread.id) == messages
    assert run_repo.list_runs(OWNER, thread.id, PageRequest()).data == [run]


def test_busy_thread_rejects_runs_and_writes_nothing(
    aws_clients: AwsClients,
    aws_resources: ResourceNames,
    thread_repo: DynamoThreadRepository,
    run_repo: DynamoRunRepository,
) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    first = make_run(thread)
    run_repo.create_run(first, [])
    before = partition_sort_keys(aws_clients, aws_resources, f"THREAD#{thread.id}")

    second = make_run(thread)
    with pytest.raises(ThreadBusyError) as raised:
        run_repo.create_run(second, [make_message(thread)])
    assert raised.value.message == f"Can't create runs on {thread.id} while a run {first.id} is active."
    assert partition_sort_keys(aws_clients, aws_resources, f"THREAD#{thread.id}") == before

    # Non-terminal transitions keep the lock; a terminal one releases it in the same transaction.
    claimed = run_repo.claim_run(thread.id, first.id, worker_id="w", lease_seconds=60, now=now())
    assert claimed is not None
    cancelling = run_repo.transition_run(claimed, RunStatus.CANCELLING)
    with pytest.raises(ThreadBusyError):
        run_repo.create_run(second, [])
    run_repo.transition_run(cancelling, RunStatus.CANCELLED, fields={"cancelled_at": now()})
    assert thread_repo.get_thread(OWNER, thread.id).active_run_id is None
    run_repo.create_run(second, [])
    assert thread_repo.get_thread(OWNER, thread.id).active_run_id == second.id


def test_too_many_additional_messages_rejected(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository
) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    with pytest.raises(InvalidRequestError) as raised:
        run_repo.create_run(make_run(thread), [make_message(thread) for _ in range(99)])
    assert raised.value.param == "additional_messages"
    assert thread_repo.get_thread(OWNER, thread.id).active_run_id is None


def test_transition_table_is_enforced_by_the_stored_status(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository
) -> None:
    for source, target in itertools.product(RunStatus, RunStatus):
        thread = make_thread()
        thread_repo.create_thread(thread, [])
        run = make_run(thread, status=source)
        run_repo.create_run(run, [])
        if target in ALLOWED_TRANSITIONS[source]:
            updated = run_repo.transition_run(
                run, target, fields={"last_error": {"code": "c", "message": "m"}}
            )
            assert updated.status == target
            stored = run_repo.get_run(OWNER, thread.id, run.id)
            assert (stored.status, stored.last_error) == (target, {"code": "c", "message": "m"}), (
                source,
                target,
            )
            locked = thread_repo.get_thread(OWNER, thread.id).active_run_id
            assert locked == (None if target.is_terminal else run.id), (source, target)
        else:
            with pytest.raises(InvalidRunStateError) as raised:
                run_repo.transition_run(run, target)
            assert str(source) in raised.value.message, (source, target)
            assert run_repo.get_run(OWNER, thread.id, run.id).status == source, (source, target)
    fresh_thread = make_thread()
    completed = make_run(fresh_thread, status=RunStatus.COMPLETED)
    run_repo.create_run(completed, [], new_thread=fresh_thread)
    with pytest.raises(InvalidRunStateError) as raised:
        run_repo.transition_run(completed, RunStatus.CANCELLED)
    assert raised.value.message == "Cannot cancel run with status 'completed'."


def test_a_transition_decided_on_an_outdated_read_changes_nothing(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository
) -> None:
    """The caller read ``in_progress`` and decided to cancel; meanwhile the run went to ``requires_action``
    (from which ``cancelling`` would leave it with no worker): the write is refused, nothing changes."""
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    stored = make_run(thread, status=RunStatus.REQUIRES_ACTION)
    run_repo.create_run(stored, [])
    outdated = replace(stored, status=RunStatus.IN_PROGRESS)
    with pytest.raises(InvalidRunStateError) as raised:
        run_repo.transition_run(outdated, RunStatus.CANCELLING)
    assert "requires_action" in raised.value.message
    assert run_repo.get_run(OWNER, thread.id, stored.id).status == RunStatus.REQUIRES_ACTION
    assert thread_repo.get_thread(OWNER, thread.id).active_run_id == stored.id


def test_claim_renew_and_reclaim_after_lease_expiry(thread: Thread, run_repo: DynamoRunRepository) -> None:
    run = make_run(thread)
    run_repo.create_run(run, [])
    start = float(now())

    claimed = run_repo.claim_run(run.thread_id, run.id, worker_id="a", lease_seconds=30, now=start)
    assert claimed is not None
    assert (claimed.status, claimed.lease_owner, claimed.attempts) == (RunStatus.IN_PROGRESS, "a", 1)
    assert claimed.lease_expires_at == start + 30
    assert claimed.started_at == int(start)
    assert run_repo.claim_run(run.thread_id, run.id, worker_id="b", lease_seconds=30, now=start + 10) is None

    assert run_repo.renew_lease(claimed, worker_id="a", lease_seconds=30, now=start + 20)
    assert claimed.lease_expires_at == start + 50
    assert run_repo.claim_run(run.thread_id, run.id, worker_id="b", lease_seconds=30, now=start + 40) is None

    reclaimed = run_repo.claim_run(run.thread_id, run.id, worker_id="b", lease_seconds=30, now=start + 51)
    assert reclaimed is not None
    assert (reclaimed.lease_owner, reclaimed.attempts, reclaimed.started_at) == ("b", 2, int(start))
    assert not run_repo.renew_lease(claimed, worker_id="a", lease_seconds=30, now=start + 52)
    assert run_repo.renew_lease(reclaimed, worker_id="b", lease_seconds=30, now=start + 52)


def test_claim_refuses_cancelled_and_missing_runs(thread: Thread, run_repo: DynamoRunRepository) -> None:
    run = make_run(thread)
    run_repo.create_run(run, [])
    run_repo.transition_run(run, RunStatus.CANCELLED)
    assert run_repo.claim_run(run.thread_id, run.id, worker_id="a", lease_seconds=30, now=now()) is None
    assert (
        run_repo.claim_run(run.thread_id, "run_missing", worker_id="a", lease_seconds=30, now=now()) is None
    )
