"""The DynamoDB run event log against moto: dense ordered sequence numbers, no fork between writers with a
stale view of the tail, cursor reads, TTL, and a write retried after a lost response."""

from __future__ import annotations

from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoTable
from assistants_core.adapters.dynamodb.items import thread_pk
from assistants_core.adapters.dynamodb.run_events import MAX_EVENTS_PER_ITEM, event_sk
from assistants_core.adapters.dynamodb.table import Expression, Item
from assistants_core.adapters.errors import ConditionFailedError
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


class LostResponseTable(DynamoTable):
    """Each single put succeeds, then fails as botocore's retry of it would after a lost response: the retry
    finds the item it wrote itself and its condition fails."""

    def put(self, item: Item, expression: Expression, condition: str) -> None:
        super().put(item, expression, condition)
        raise ConditionFailedError("the retried put found its own item")


def test_a_put_retried_after_a_lost_response_is_not_appended_twice(dynamo_table: DynamoTable) -> None:
    flaky = LostResponseTable(dynamo_table.client, dynamo_table.table_name, dynamo_table.bodies)
    log = DynamoRunEventLog(flaky)
    assert log.append(THREAD, RUN, events("created")) == 1
    assert log.append(THREAD, RUN, events("queued")) == 2
    assert [(event.seq, event.event) for event in log.read(THREAD, RUN)] == [(1, "created"), (2, "queued")]


def test_a_conflicting_identical_looking_event_of_another_attempt_is_not_taken_as_ours(
    dynamo_table: DynamoTable,
) -> None:
    """Only exactly our events count as already stored: another writer's event at our number does not."""
    api, worker = DynamoRunEventLog(dynamo_table), DynamoRunEventLog(dynamo_table)
    api.append(THREAD, RUN, events("created"))  # api caches next seq 2
    worker.append(THREAD, RUN, events("delta", attempt=1))  # seq 2
    assert api.append(THREAD, RUN, events("delta", attempt=2)) == 3  # stale 2: a conflict, not a match
    assert [(event.seq, event.attempt) for event in api.read(THREAD, RUN)] == [(1, 0), (2, 1), (3, 2)]


def counted_calls(dynamo_table: DynamoTable) -> list[str]:
    calls: list[str] = []
    dynamo_table.client.meta.events.register(
        "before-parameter-build.dynamodb", lambda model, **kwargs: calls.append(model.name)
    )
    return calls


def test_an_append_is_one_put_of_one_item_and_a_hint_saves_the_tail_read(dynamo_table: DynamoTable) -> None:
    DynamoRunEventLog(dynamo_table).append(THREAD, RUN, events("created", "queued"), new_log=True)
    worker = DynamoRunEventLog(dynamo_table)
    calls = counted_calls(dynamo_table)
    assert worker.append(THREAD, RUN, events("in_progress", "step", "message"), last_seq_hint=2) == 5
    assert calls == ["PutItem"]  # no Query of the tail, no transaction
    calls.clear()
    # A stale hint (the log's end when the run was created): refused, the tail read, put after it.
    assert DynamoRunEventLog(dynamo_table).append(THREAD, RUN, events("x"), last_seq_hint=2) == 6
    assert calls == ["PutItem", "Query", "Query", "PutItem"]
    assert [event.seq for event in worker.read(THREAD, RUN)] == [1, 2, 3, 4, 5, 6]


def test_reads_resume_inside_an_item(dynamo_table: DynamoTable) -> None:
    log = DynamoRunEventLog(dynamo_table)
    log.append(THREAD, RUN, events("a", "b", "c", "d"))
    log.append(THREAD, RUN, events("e"))
    assert [event.event for event in log.read(THREAD, RUN, after_seq=2)] == ["c", "d", "e"]
    assert [event.event for event in log.read(THREAD, RUN, after_seq=1, limit=2)] == ["b", "c"]
    assert log.last_seq(THREAD, RUN) == 5


def test_a_long_append_takes_several_items_in_order(dynamo_table: DynamoTable) -> None:
    log = DynamoRunEventLog(dynamo_table)
    names = [f"e{i}" for i in range(MAX_EVENTS_PER_ITEM * 2 + 3)]
    assert log.append(THREAD, RUN, events(*names)) == len(names)
    assert [event.event for event in log.read(THREAD, RUN, limit=1000)] == names
    assert [event.event for event in log.read(THREAD, RUN, after_seq=MAX_EVENTS_PER_ITEM + 1)] == names[
        MAX_EVENTS_PER_ITEM + 1 :
    ]


def test_items_of_the_one_event_layout_read_the_same(dynamo_table: DynamoTable) -> None:
    old = {"PK": thread_pk(THREAD), "SK": event_sk(RUN, 1), "event": "thread.run.created", "data": "{}"}
    dynamo_table.put(old, Expression(), "attribute_not_exists(PK)")
    log = DynamoRunEventLog(dynamo_table)
    assert log.append(THREAD, RUN, events("queued")) == 2
    assert [(event.seq, event.event) for event in log.read(THREAD, RUN)] == [
        (1, "thread.run.created"),
        (2, "queued"),
    ]
