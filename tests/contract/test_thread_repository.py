from __future__ import annotations

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunEventLog,
    DynamoRunRepository,
    DynamoTable,
    DynamoThreadRepository,
)
from assistants_core.domain import ids
from assistants_core.domain.errors import ConflictError, InvalidRequestError, NotFoundError
from assistants_core.domain.models import PageRequest, RunStep
from assistants_core.domain.run_events import NewRunEvent
from assistants_core.domain.status import StepStatus
from infra.aws_resources import ResourceNames
from tests.contract.bodies import bucket_keys, partition_sort_keys
from tests.contract.factories import OTHER_OWNER, OWNER, make_message, make_run, make_thread, now


def test_create_with_messages_get_and_replace(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread = make_thread(metadata={"topic": "x"}, tool_resources={"file_search": {"vector_store_ids": []}})
    messages = [make_message(thread, f"m{i}") for i in range(3)]
    thread_repo.create_thread(thread, messages)

    assert thread_repo.get_thread(OWNER, thread.id) == thread
    assert message_repo.list_thread_messages(thread.id) == messages

    thread.metadata = {"topic": "y", "extra": "1"}
    thread.tool_resources = None
    thread_repo.replace_thread_fields(thread)
    assert thread_repo.get_thread(OWNER, thread.id) == thread


def test_set_tool_resources_is_a_compare_and_set(thread_repo: DynamoThreadRepository) -> None:
    """Attachments name the thread's vector store without overwriting a concurrent change (or metadata)."""
    thread = make_thread(metadata={"topic": "x"})
    thread_repo.create_thread(thread, [])
    named = {"file_search": {"vector_store_ids": ["vs_1"]}}
    thread.tool_resources = named
    assert thread_repo.set_tool_resources(thread, None)
    thread.tool_resources = {"file_search": {"vector_store_ids": ["vs_2"]}}
    assert not thread_repo.set_tool_resources(thread, None)  # no longer unset: lost, nothing written
    assert thread_repo.get_thread(OWNER, thread.id).tool_resources == named
    assert thread_repo.set_tool_resources(thread, named)
    stored = thread_repo.get_thread(OWNER, thread.id)
    assert (stored.tool_resources, stored.metadata) == (thread.tool_resources, {"topic": "x"})
    with pytest.raises(NotFoundError):
        thread_repo.set_tool_resources(make_thread(owner=OTHER_OWNER, id=thread.id), named)
    with pytest.raises(NotFoundError):
        thread_repo.set_tool_resources(make_thread(), None)


def test_duplicate_thread_writes_nothing(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    extra = make_message(thread)
    with pytest.raises(ConflictError):
        thread_repo.create_thread(make_thread(id=thread.id), [extra])
    assert message_repo.list_thread_messages(thread.id) == []


def test_too_many_initial_messages_rejected_up_front(
    thread_repo: DynamoThreadRepository, aws_clients: AwsClients, aws_resources: ResourceNames
) -> None:
    thread = make_thread()
    with pytest.raises(InvalidRequestError) as raised:
        thread_repo.create_thread(thread, [make_message(thread) for _ in range(100)])
    assert raised.value.param == "messages"
    assert partition_sort_keys(aws_clients, aws_resources, f"THREAD#{thread.id}") == []


def test_other_tenant_gets_not_found_and_changes_nothing(thread_repo: DynamoThreadRepository) -> None:
    thread = make_thread(metadata={"a": "1"})
    thread_repo.create_thread(thread, [])
    with pytest.raises(NotFoundError):
        thread_repo.get_thread(OTHER_OWNER, thread.id)
    with pytest.raises(NotFoundError):
        thread_repo.replace_thread_fields(make_thread(OTHER_OWNER, id=thread.id, metadata={"a": "stolen"}))
    with pytest.raises(NotFoundError):
        thread_repo.delete_thread(OTHER_OWNER, thread.id)
    with pytest.raises(NotFoundError):
        thread_repo.replace_thread_fields(make_thread())  # never created: must not be upserted
    assert thread_repo.get_thread(OWNER, thread.id) == thread


def test_delete_cascades_to_messages_runs_steps_and_bodies_and_leaves_events_to_their_ttl(
    aws_clients: AwsClients,
    aws_resources: ResourceNames,
    dynamo_table: DynamoTable,
) -> None:
    small_limit_table = DynamoTable(
        aws_clients.dynamodb, aws_resources.table_name, dynamo_table.bodies, inline_body_limit_bytes=100
    )
    threads = DynamoThreadRepository(small_limit_table)
    messages = DynamoMessageRepository(small_limit_table)
    run_repo = DynamoRunRepository(small_limit_table)
    thread, neighbour = make_thread(), make_thread()
    threads.create_thread(thread, [make_message(thread, "x" * 500) for _ in range(30)])
    threads.create_thread(neighbour, [make_message(neighbour, "y" * 500)])
    run = make_run(thread)
    run_repo.create_run(run, [make_message(thread, "z" * 500)])
    step = RunStep(
        id=ids.new_id(ids.STEP),
        owner=OWNER,
        thread_id=thread.id,
        run_id=run.id,
        assistant_id=run.assistant_id,
        created_at=now(),
        type="message_creation",
        status=StepStatus.IN_PROGRESS,
        step_details={"type": "message_creation", "message_creation": {"message_id": "msg_x"}},
    )
    run_repo.transition_run(run, run.status.CANCELLED, step_updates=[step])
    events = [NewRunEvent("thread.message.delta", {"i": i}) for i in range(5)]
    DynamoRunEventLog(small_limit_table).append(thread.id, run.id, events, new_log=True)
    assert len(bucket_keys(aws_clients, aws_resources, f"threads/{thread.id}/")) == 31

    threads.delete_thread(OWNER, thread.id)

    left = partition_sort_keys(aws_clients, aws_resources, f"THREAD#{thread.id}")
    # One item holds the append's five events; their TTL removes them.
    assert len(left) == 1 and all(key.startswith(f"EVT#{run.id}#") for key in left)
    assert bucket_keys(aws_clients, aws_resources, f"threads/{thread.id}/") == []
    with pytest.raises(NotFoundError):
        threads.get_thread(OWNER, thread.id)
    with pytest.raises(NotFoundError):
        messages.list_messages(OWNER, thread.id, PageRequest())
    # The neighbour thread is untouched.
    assert [m.text() for m in messages.list_thread_messages(neighbour.id)] == ["y" * 500]
    assert len(bucket_keys(aws_clients, aws_resources, f"threads/{neighbour.id}/")) == 1


def test_many_large_initial_messages_fit_one_transaction(
    aws_clients: AwsClients,
    aws_resources: ResourceNames,
    thread_repo: DynamoThreadRepository,
    message_repo: DynamoMessageRepository,
) -> None:
    """60 bodies just under the inline limit would exceed DynamoDB's 4 MB transaction cap if all stayed
    inline: the repository moves them to S3."""
    thread = make_thread()
    messages = [make_message(thread, str(i % 10) * 60_000) for i in range(60)]
    thread_repo.create_thread(thread, messages)
    stored = message_repo.list_thread_messages(thread.id)
    assert [m.text() for m in stored] == [m.text() for m in messages]
    assert len(bucket_keys(aws_clients, aws_resources, f"threads/{thread.id}/")) == len(messages)
