"""The DynamoDB run event log against moto: dense ordered sequence numbers, no fork between writers with a
stale view of the tail, cursor reads, TTL, and the delete-thread cascade."""

from __future__ import annotations

from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoTable, DynamoThreadRepository
from assistants_core.adapters.dynamodb.items import thread_pk
from assistants_core.adapters.dynamodb.run_events import event_sk
from assistants_core.domain import ids
from assistants_core.domain.models import Thread
from assistants_core.domain.run_events import NewRunEvent

THREAD = "thread_evt"
RUN = "run_evt"


def events(*names: str, attempt: int = 0) -> list[NewRunEvent]:
    return [NewRunEvent(name, {"name": name, "nested": {"n": 1.5}}, attempt) for name in names]


def test_appends_get_dense_sequence_numbers_in_order(dynamo_table: DynamoTable) -> None:
    log = DynamoRunEventLog(dynamo_table, wall_clock=lambda: 1000.0)
    assert log.last_seq(THREAD, RUN) == 0
    assert log.append(THREAD, RUN, events("a", "b", "c")) == 3
    assert log.append(THREAD, RUN, events("d", attempt=2)) == 4
    stored = log.read(THREAD, RUN)
    assert [(event.seq, event.event, event.attempt) for event in stored] == [
        (1, "a", 0),
        (2, "b", 0),
        (3, "c", 0),
        (4, "d", 2),
    ]
    assert stored[0].data == {"name": "a", "nested": {"n": 1.5}}
    assert [event.seq for event in log.read(THREAD, RUN, after_seq=1, limit=2)] == [2, 3]
    assert log.read(THREAD, RUN, after_seq=4) == []
    assert log.read(THREAD, "run_other") == []
    item = dynamo_table.get(thread_pk(THREAD), event_sk(RUN, 1))
    assert item is not None and item["ttl"] == 1000 + 24 * 3600


def test_writers_with_a_stale_tail_never_overwrite_each_other(dynamo_table: DynamoTable) -> None:
    api, worker = DynamoRunEventLog(dynamo_table), DynamoRunEventLog(dynamo_table)
    api.append(THREAD, RUN, events("created", "queued"))  # api caches next seq 3
    worker.append(THREAD, RUN, events("in_progress", "delta"))  # worker reads the tail: 3, 4
    api.append(THREAD, RUN, events("cancelling"))  # stale cache says 3: conflict, re-read, 5
    worker.append(THREAD, RUN, events("cancelled", "x"))  # stale cache 5: conflict, re-read, 6-7
    assert [(event.seq, event.event) for event in api.read(THREAD, RUN)] == [
        (1, "created"),
        (2, "queued"),
        (3, "in_progress"),
        (4, "delta"),
        (5, "cancelling"),
        (6, "cancelled"),
        (7, "x"),
    ]


def test_deleting_the_thread_deletes_its_events(
    dynamo_table: DynamoTable, thread_repo: DynamoThreadRepository
) -> None:
    thread = Thread(id=ids.new_id(ids.THREAD), owner="tenant", created_at=1)
    thread_repo.create_thread(thread, [])
    log = DynamoRunEventLog(dynamo_table)
    log.append(thread.id, RUN, events("a", "b"))
    thread_repo.delete_thread("tenant", thread.id)
    assert log.read(thread.id, RUN) == []
