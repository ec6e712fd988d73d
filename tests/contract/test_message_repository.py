from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunRepository,
    DynamoTable,
    DynamoThreadRepository,
)
from assistants_core.domain.errors import ConflictError, NotFoundError, ThreadBusyError
from assistants_core.domain.models import PageRequest, Thread
from infra.aws_resources import ResourceNames
from tests.contract.bodies import bucket_keys
from tests.contract.factories import OTHER_OWNER, OWNER, make_message, make_run, make_thread
from tests.contract.pagination import assert_paginates


def test_add_get_replace_metadata_delete(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    message = make_message(
        thread,
        "hi",
        metadata={"a": "b"},
        attachments=[{"file_id": "file_1", "tools": [{"type": "file_search"}]}],
        assistant_id="asst_1",
        run_id="run_1",
        role="assistant",
        incomplete_details={"reason": "max_tokens"},
        status="incomplete",
        incomplete_at=123,
    )
    message_repo.add_message(message)
    assert message_repo.get_message(OWNER, thread.id, message.id) == message

    message.metadata = {"a": "c"}
    message_repo.replace_message_metadata(message)
    assert message_repo.get_message(OWNER, thread.id, message.id).metadata == {"a": "c"}

    message_repo.delete_message(OWNER, thread.id, message.id)
    with pytest.raises(NotFoundError):
        message_repo.get_message(OWNER, thread.id, message.id)
    with pytest.raises(NotFoundError):
        message_repo.delete_message(OWNER, thread.id, message.id)


def test_duplicate_message_id_is_a_conflict(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread = make_thread()
    message = make_message(thread, "first")
    thread_repo.create_thread(thread, [message])
    with pytest.raises(ConflictError):
        message_repo.add_message(make_message(thread, "second", id=message.id))
    assert message_repo.get_message(OWNER, thread.id, message.id).text() == "first"


def test_other_tenant_gets_not_found_and_changes_nothing(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread = make_thread()
    message = make_message(thread, metadata={"k": "v"})
    thread_repo.create_thread(thread, [message])
    foreign = make_message(thread, owner=OTHER_OWNER, id=message.id, metadata={"k": "stolen"})

    with pytest.raises(NotFoundError) as raised:
        message_repo.add_message(make_message(thread, owner=OTHER_OWNER))
    assert raised.value.kind == "thread"
    with pytest.raises(NotFoundError):
        message_repo.get_message(OTHER_OWNER, thread.id, message.id)
    with pytest.raises(NotFoundError):
        message_repo.replace_message_metadata(foreign)
    with pytest.raises(NotFoundError):
        message_repo.delete_message(OTHER_OWNER, thread.id, message.id)
    with pytest.raises(NotFoundError):
        message_repo.list_messages(OTHER_OWNER, thread.id, PageRequest())

    assert message_repo.list_thread_messages(thread.id) == [message]


def test_add_to_missing_thread_is_not_found(message_repo: DynamoMessageRepository) -> None:
    with pytest.raises(NotFoundError):
        message_repo.add_message(make_message(make_thread()))


def test_list_paginates_in_creation_order(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository, run_repo: DynamoRunRepository
) -> None:
    thread = make_thread()
    messages = [make_message(thread, str(i)) for i in range(7)]
    thread_repo.create_thread(thread, messages[:2])
    for message in messages[2:]:
        message_repo.add_message(message)
    # Runs and steps share the partition; they must never show up as messages.
    run = make_run(thread)
    run_repo.create_run(run, [])
    run_repo.transition_run(run, run.status.CANCELLED)

    assert_paginates(
        lambda page: message_repo.list_messages(OWNER, thread.id, page), [m.id for m in messages]
    )


def test_list_filters_by_run_id_across_query_pages(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    matching = []
    for index in range(12):
        message = make_message(thread, str(index), run_id="run_a" if index % 4 == 0 else "run_b")
        message_repo.add_message(message)
        if message.run_id == "run_a":
            matching.append(message.id)

    first = message_repo.list_messages(OWNER, thread.id, PageRequest(limit=2, order="asc"), run_id="run_a")
    assert ([m.id for m in first.data], first.has_more) == (matching[:2], True)
    rest = message_repo.list_messages(
        OWNER, thread.id, PageRequest(limit=2, order="asc", after=matching[1]), run_id="run_a"
    )
    assert ([m.id for m in rest.data], rest.has_more) == (matching[2:], False)
    assert message_repo.list_messages(OWNER, thread.id, PageRequest(), run_id="run_none").data == []


@contextmanager
def counted_queries(aws_clients: AwsClients) -> Iterator[Counter[str]]:
    """Query requests made and items DynamoDB read for them (``ScannedCount``, what it bills)."""
    counts: Counter[str] = Counter()

    def record(parsed: dict[str, Any], **_: Any) -> None:
        counts["queries"] += 1
        counts["scanned"] += int(parsed.get("ScannedCount", 0))

    events = aws_clients.dynamodb.meta.events
    events.register("after-call.dynamodb.Query", record)
    try:
        yield counts
    finally:
        events.unregister("after-call.dynamodb.Query", record)


def _thread_with_run_messages(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository, others: int
) -> tuple[Thread, list[str]]:
    """A thread of ``others`` messages of other runs with 7 messages of run ``run_a`` spread among them."""
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    matching = []
    spread = others // 7
    for index in range(others + 7):
        in_run = index % (spread + 1) == spread and len(matching) < 7
        message = make_message(thread, str(index), run_id="run_a" if in_run else f"run_{index}")
        message_repo.add_message(message)
        if in_run:
            matching.append(message.id)
    assert len(matching) == 7
    return thread, matching


def test_list_by_run_id_keeps_the_pagination_contract(
    thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    thread, matching = _thread_with_run_messages(thread_repo, message_repo, others=14)
    assert_paginates(
        lambda page: message_repo.list_messages(OWNER, thread.id, page, run_id="run_a"), matching
    )
    # The same run id on another thread (or tenant) lists nothing of this thread.
    neighbour = make_thread()
    thread_repo.create_thread(neighbour, [])
    assert message_repo.list_messages(OWNER, neighbour.id, PageRequest(), run_id="run_a").data == []


def test_list_by_run_id_reads_only_the_run_messages(
    aws_clients: AwsClients, thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    """One Query that reads the page it returns, however long the thread (it read the whole thread a few
    items at a time: 62 s on a 980-message thread)."""
    thread, matching = _thread_with_run_messages(thread_repo, message_repo, others=200)
    with counted_queries(aws_clients) as counts:
        page = message_repo.list_messages(OWNER, thread.id, PageRequest(limit=20), run_id="run_a")
    assert [message.id for message in page.data] == matching[::-1]
    assert counts["queries"] == 1, counts
    assert counts["scanned"] <= len(matching) + 2, counts
    with counted_queries(aws_clients) as counts:
        page = message_repo.list_messages(
            OWNER, thread.id, PageRequest(limit=2, order="asc", after=matching[2]), run_id="run_a"
        )
    assert [message.id for message in page.data] == matching[3:5]
    assert (counts["queries"], page.has_more) == (1, True)
    assert counts["scanned"] <= 2 + 3, counts


def test_newest_thread_messages_read_back_from_the_end(
    aws_clients: AwsClients,
    thread_repo: DynamoThreadRepository,
    message_repo: DynamoMessageRepository,
    run_repo: DynamoRunRepository,
) -> None:
    thread = make_thread()
    messages = [make_message(thread, str(index)) for index in range(60)]
    thread_repo.create_thread(thread, messages[:30])
    for message in messages[30:]:
        message_repo.add_message(message)
    run = make_run(thread)  # runs share the partition (their keys sort after messages); not messages
    run_repo.create_run(run, [])
    run_repo.transition_run(run, run.status.CANCELLED)
    with counted_queries(aws_clients) as counts:
        newest = message_repo.list_newest_thread_messages(thread.id, 3)
    assert newest == messages[-1:-4:-1]
    assert counts["scanned"] <= 3 + 2, counts
    older = message_repo.list_newest_thread_messages(thread.id, 5, older_than=newest[-1].id)
    assert older == messages[-4:-9:-1]
    assert message_repo.list_newest_thread_messages(thread.id, 100, older_than=messages[2].id) == [
        messages[1],
        messages[0],
    ]
    assert message_repo.list_newest_thread_messages(thread.id, 0) == []


def test_large_body_goes_to_s3_and_is_resolved_and_deleted(
    aws_clients: AwsClients, aws_resources: ResourceNames, dynamo_table: DynamoTable
) -> None:
    table = DynamoTable(aws_clients.dynamodb, aws_resources.table_name, dynamo_table.bodies, 1024)
    threads, messages = DynamoThreadRepository(table), DynamoMessageRepository(table)
    thread = make_thread()
    small, large = make_message(thread, "short"), make_message(thread, "é" * 4000)
    threads.create_thread(thread, [small])
    messages.add_message(large)

    keys = bucket_keys(aws_clients, aws_resources)
    assert len(keys) == 1
    assert keys[0].startswith(f"threads/{thread.id}/messages/{large.id}/")
    stored = json.loads(dynamo_table.bodies.get_body(keys[0]))
    assert stored["content"] == large.content
    raw_item = aws_clients.dynamodb.get_item(
        TableName=aws_resources.table_name,
        Key={"PK": {"S": f"THREAD#{thread.id}"}, "SK": {"S": f"MSG#{large.id}"}},
    )["Item"]
    assert "body" not in raw_item
    assert raw_item["body_key"]["S"] == keys[0]

    assert messages.get_message(OWNER, thread.id, large.id) == large
    assert messages.list_messages(OWNER, thread.id, PageRequest(order="asc")).data == [small, large]
    assert messages.list_thread_messages(thread.id) == [small, large]

    messages.delete_message(OWNER, thread.id, large.id)
    assert bucket_keys(aws_clients, aws_resources) == []


def test_thread_lock_blocks_messages_until_the_run_ends(
    aws_clients: AwsClients,
    aws_resources: ResourceNames,
    thread_repo: DynamoThreadRepository,
    message_repo: DynamoMessageRepository,
    run_repo: DynamoRunRepository,
) -> None:
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    run = make_run(thread)
    run_repo.create_run(run, [])

    with pytest.raises(ThreadBusyError) as raised:
        message_repo.add_message(make_message(thread, "x" * 100_000))
    assert raised.value.run_id == run.id
    assert raised.value.message == f"Can't add messages to {thread.id} while a run {run.id} is active."
    assert message_repo.list_thread_messages(thread.id) == []
    assert bucket_keys(aws_clients, aws_resources) == []  # the rejected body was not left behind

    run_repo.transition_run(run, run.status.CANCELLED)
    after = make_message(thread)
    message_repo.add_message(after)
    assert message_repo.list_thread_messages(thread.id) == [after]
