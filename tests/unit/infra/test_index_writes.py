"""Global-secondary-index writes counted as AWS bills them (infra/index_writes.py, infra/index_write_log.py,
the opt-in mode of infra/aws_call_counter.py), on the template's table in moto: GSI1 projects ALL, GSI2 keys
only. The rules for a full projection are also checked on GSI2 as if it projected ALL (``ALL_PROJECTED``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from assistants_core.adapters.aws import AwsClients
from bench.cost_model import WRU, billed_units
from infra.aws_call_counter import (
    CallTally,
    counting_aws_calls,
    index_writes_call,
    is_index_writes,
    item_size,
)
from infra.aws_resources import ResourceNames
from infra.index_write_log import IndexWriteLog
from infra.index_writes import GlobalIndex, TableIndexes, WrittenItem, index_entry_writes, written_items

TABLE_INDEXES = TableIndexes.from_template()
ALL_PROJECTED = TableIndexes(
    TABLE_INDEXES.table_keys,
    tuple(GlobalIndex(index.name, index.keys, None) for index in TABLE_INDEXES.indexes),
)
GSI1, GSI2 = index_writes_call("GSI1"), index_writes_call("GSI2")


@pytest.fixture
def aws(aws_clients: AwsClients, aws_resources: ResourceNames) -> tuple[AwsClients, str]:
    """moto clients (tests/conftest.py) and the template's table."""
    return aws_clients, aws_resources.table_name


def _key(pk: str, sk: str = "RUN") -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _active_run(pk: str, **extra: Any) -> dict[str, Any]:
    """An item in the sparse GSI2 (as a non-terminal run is)."""
    return {**_key(pk), "GSI2PK": {"S": "ACTIVE_RUN"}, "GSI2SK": {"S": f"0001#{pk}"}, **extra}


def _update(
    table: str, key: dict[str, Any], expression: str, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An ``UpdateItem``'s parameters (or a transaction's ``Update``)."""
    extra = {"ExpressionAttributeValues": values} if values else {}
    return {"TableName": table, "Key": key, "UpdateExpression": expression, **extra}


def _counted(
    clients: AwsClients, action: Any, *, index_writes: bool = True, indexes: TableIndexes = ALL_PROJECTED
) -> CallTally:
    """What the counter records while ``action()`` runs (with the index-write mode on or off)."""
    log = IndexWriteLog(indexes) if index_writes else None
    with counting_aws_calls(clients, index_writes=log) as counter, counter.counting() as tally:
        action()
    return tally


def _index_writes(tally: CallTally) -> dict[str, tuple[int, int, int]]:
    """``{pseudo-call: (calls, index entries written, 1 KB units)}``."""
    return {
        name: (tally.calls[name], tally.items[name], tally.written_kilobytes[name])
        for name in tally.calls
        if is_index_writes(name)
    }


def test_the_template_defines_gsi1_projecting_all_and_gsi2_keys_only() -> None:
    assert TABLE_INDEXES.table_keys == ("PK", "SK")
    assert TABLE_INDEXES.indexes == (
        GlobalIndex("GSI1", ("GSI1PK", "GSI1SK"), None),
        GlobalIndex("GSI2", ("GSI2PK", "GSI2SK"), frozenset()),
    )


def test_a_put_with_index_keys_writes_the_index_once(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws
    tally = _counted(
        clients, lambda: clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1"))
    )
    assert _index_writes(tally) == {GSI2: (1, 1, 1)}
    assert tally.calls["dynamodb.PutItem"] == 1
    assert tally.requests() == 1  # the before/after reads are on another client: not counted


def test_updates_write_the_index_by_what_they_change(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws
    dynamodb = clients.dynamodb
    dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1", phase={"S": "queued"}))
    dynamodb.put_item(TableName=table, Item={**_key("THREAD#2", "THREAD"), "n": {"N": "1"}})

    def update(pk: str, expression: str, values: dict[str, Any] | None = None, sk: str = "RUN") -> CallTally:
        return _counted(
            clients, lambda: dynamodb.update_item(**_update(table, _key(pk, sk), expression, values))
        )

    # a projected non-key attribute of an indexed item: 1 write
    assert _index_writes(update("THREAD#1", "SET phase = :s", {":s": {"S": "in_progress"}})) == {
        GSI2: (1, 1, 1)
    }
    # the index's sort key changes: the old entry is deleted and the new one put, 2 writes
    assert _index_writes(update("THREAD#1", "SET GSI2SK = :k", {":k": {"S": "0002#THREAD#1"}})) == {
        GSI2: (1, 2, 2)
    }
    # the same value written again changes nothing in the index
    assert _index_writes(update("THREAD#1", "SET GSI2SK = :k", {":k": {"S": "0002#THREAD#1"}})) == {}
    # the key attributes removed: the item leaves the sparse index, 1 write
    assert _index_writes(update("THREAD#1", "REMOVE GSI2PK, GSI2SK")) == {GSI2: (1, 1, 1)}
    # an item in no index: none
    assert _index_writes(update("THREAD#2", "SET n = :n", {":n": {"N": "2"}}, sk="THREAD")) == {}
    # one index key defined (the other still missing): the item is not in the index yet, none
    assert _index_writes(update("THREAD#2", "SET GSI1PK = :p", {":p": {"S": "P"}}, sk="THREAD")) == {}
    # the second one defined: the item enters the index, 1 write
    assert _index_writes(update("THREAD#2", "SET GSI1SK = :s", {":s": {"S": "S"}}, sk="THREAD")) == {
        GSI1: (1, 1, 1)
    }


def test_the_keys_only_gsi2_is_written_only_when_its_keys_change(
    aws: tuple[AwsClients, str],
) -> None:
    """GSI2 projects keys only: a run's claim or lease renewal (non-key attributes) writes no entry."""
    clients, table = aws
    clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1", body={"S": "x" * 1500}))

    def update(expression: str, values: dict[str, Any] | None = None) -> CallTally:
        params = _update(table, _key("THREAD#1"), expression, values)
        return _counted(clients, lambda: clients.dynamodb.update_item(**params), indexes=TABLE_INDEXES)

    assert _index_writes(update("SET phase = :s", {":s": {"S": "in_progress"}})) == {}
    # the entry is the keys only: 1 KB units however large the item
    assert _index_writes(update("SET GSI2SK = :k", {":k": {"S": "0002#THREAD#1"}})) == {GSI2: (1, 2, 2)}
    assert _index_writes(update("REMOVE GSI2PK, GSI2SK")) == {GSI2: (1, 1, 1)}


def test_a_put_over_an_indexed_item_is_counted_from_what_it_replaced(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws
    clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1"))
    replacement = {**_key("THREAD#1"), "n": {"N": "1"}}  # no index keys: the item leaves GSI2
    tally = _counted(clients, lambda: clients.dynamodb.put_item(TableName=table, Item=replacement))
    assert _index_writes(tally) == {GSI2: (1, 1, 1)}


def test_the_request_spares_the_reads_it_answers() -> None:
    """A put says what the item is after it, a delete that it is gone, a condition that the item must not
    exist (names substituted, not inside an OR) that it was not there before: only the rest is read."""
    key, item = _key("T"), _active_run("T")
    absent = {
        "ConditionExpression": "attribute_not_exists(#p1)",
        "ExpressionAttributeNames": {"#p1": "PK", "#p10": "x"},
    }
    assert written_items("PutItem", {"TableName": "t", "Item": item, **absent}, TABLE_INDEXES) == [
        WrittenItem("t", key, read_before=False, read_after=False, after=item)
    ]
    assert written_items("PutItem", {"TableName": "t", "Item": item}, TABLE_INDEXES) == [
        WrittenItem("t", key, read_before=True, read_after=False, after=item)
    ]
    either = {"ConditionExpression": "attribute_not_exists(PK) OR n < :n"}
    assert written_items("UpdateItem", {"TableName": "t", "Key": key, **either}, TABLE_INDEXES) == [
        WrittenItem("t", key, read_before=True, read_after=True)
    ]
    unrelated = {
        "ConditionExpression": "attribute_not_exists(#p10)",
        "ExpressionAttributeNames": absent["ExpressionAttributeNames"],
    }
    creates = {"ConditionExpression": "attribute_not_exists(SK) and :a = :a"}
    transaction = {"TransactItems": [
        {"Delete": {"TableName": "t", "Key": key}},
        {"Update": {"TableName": "u", "Key": key, **creates}},
        {"Put": {"TableName": "u", "Item": item, **unrelated}},
        {"ConditionCheck": {"TableName": "u", "Key": key, "ConditionExpression": "attribute_exists(PK)"}},
    ]}  # fmt: skip
    assert written_items("TransactWriteItems", transaction, TABLE_INDEXES) == [
        WrittenItem("t", key, read_before=True, read_after=False),
        WrittenItem("u", key, read_before=False, read_after=True),
        WrittenItem("u", key, read_before=True, read_after=False, after=item),
    ]


def test_a_failed_conditional_write_writes_no_index_entry(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws
    clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1"))

    def overwrite() -> None:
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            clients.dynamodb.put_item(
                TableName=table,
                Item=_active_run("THREAD#1", status={"S": "new"}),
                ConditionExpression="attribute_not_exists(PK)",
            )

    tally = _counted(clients, overwrite)
    assert tally.calls["dynamodb.PutItem"] == 1
    assert _index_writes(tally) == {}


def test_a_transaction_counts_each_item_and_a_cancelled_one_nothing(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws
    dynamodb = clients.dynamodb
    dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1"))
    dynamodb.put_item(TableName=table, Item={**_key("THREAD#1", "THREAD"), "n": {"N": "1"}})
    dynamodb.put_item(
        TableName=table, Item={**_key("THREAD#1", "MSG#old"), "GSI1PK": {"S": "R"}, "GSI1SK": {"S": "o"}}
    )
    message = {**_key("THREAD#1", "MSG#new"), "GSI1PK": {"S": "RUNMSG#1"}, "GSI1SK": {"S": "MSG#new"}}
    absent = {"TableName": table, "Key": _key("THREAD#9"), "ConditionExpression": "attribute_not_exists(PK)"}
    finish = [
        {"Put": {"TableName": table, "Item": message}},  # enters GSI1: 1
        {"Update": _update(table, _key("THREAD#1"), "REMOVE GSI2PK, GSI2SK")},  # leaves GSI2: 1
        {"Update": _update(table, _key("THREAD#1", "THREAD"), "SET n = :n", {":n": {"N": "2"}})},  # none
        {"Delete": {"TableName": table, "Key": _key("THREAD#1", "MSG#old")}},  # leaves GSI1: 1
        {"ConditionCheck": absent},  # writes nothing
    ]
    tally = _counted(clients, lambda: dynamodb.transact_write_items(TransactItems=finish))
    assert _index_writes(tally) == {GSI1: (1, 2, 2), GSI2: (1, 1, 1)}
    # not doubled like the table items (2 WRU each): the index is updated once, after the commit
    assert billed_units(GSI1, 1, 2, 2) == (WRU, 2)
    assert billed_units("dynamodb.TransactWriteItems", 1, 5, 5) == (WRU, 10)

    def cancelled() -> None:
        again = [{"Put": {"TableName": table, "Item": _active_run("THREAD#2")}}, finish[-1]]
        again[-1]["ConditionCheck"]["Key"] = _key("THREAD#1")  # exists: the transaction is cancelled
        with pytest.raises(ClientError, match="TransactionCanceled"):
            dynamodb.transact_write_items(TransactItems=again)

    assert _index_writes(_counted(clients, cancelled)) == {}


def test_a_batch_write_counts_puts_and_deletes(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws
    clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1"))
    requests = [
        {"PutRequest": {"Item": _active_run("THREAD#2")}},
        {"PutRequest": {"Item": {**_key("THREAD#3"), "n": {"N": "1"}}}},  # in no index
        {"DeleteRequest": {"Key": _key("THREAD#1")}},
    ]
    tally = _counted(clients, lambda: clients.dynamodb.batch_write_item(RequestItems={table: requests}))
    assert _index_writes(tally) == {GSI2: (1, 2, 2)}


def test_index_writes_are_billed_per_started_kilobyte_of_the_entry(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws
    large = _active_run("THREAD#1", body={"S": "x" * 1500})  # ALL projection: the entry is the whole item
    assert 1024 < item_size(large) <= 2048
    tally = _counted(clients, lambda: clients.dynamodb.put_item(TableName=table, Item=large))
    assert _index_writes(tally) == {GSI2: (1, 1, 2)}

    def grow_and_move() -> None:  # a key change on a 2-3 KB item: delete 2 KB + put 3 KB
        values = {":k": {"S": "0002#THREAD#1"}, ":m": {"S": "y" * 1000}}
        clients.dynamodb.update_item(**_update(table, _key("THREAD#1"), "SET GSI2SK = :k, more = :m", values))

    assert _index_writes(_counted(clients, grow_and_move)) == {GSI2: (1, 2, 5)}
    assert billed_units(GSI2, 1, 2, 5) == (WRU, 5)


def test_the_default_mode_counts_only_the_calls_made(aws: tuple[AwsClients, str]) -> None:
    clients, table = aws

    def writes() -> None:
        clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1"))
        clients.dynamodb.update_item(**_update(table, _key("THREAD#1"), "REMOVE GSI2PK"))

    tally = _counted(clients, writes, index_writes=False)
    assert dict(tally.calls) == {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}
    assert dict(tally.written_kilobytes) == {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}
    with counting_aws_calls(clients, index_writes=IndexWriteLog(TABLE_INDEXES)) as closed:
        pass
    clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#2"))
    assert not closed.tally.calls  # closed: its hooks are gone


def test_writes_are_not_slowed_by_reads_and_each_client_counts_its_own(aws: tuple[AwsClients, str]) -> None:
    """Two clients share one log (as the API and the worker in bench.run_cost): while they write, only an
    item the log has not seen and the request does not say was absent is read, once; the rest is worked out
    when the counting ends, in each writer's tally (a conditional update replayed without its condition)."""
    clients, table = aws
    clients.dynamodb.put_item(TableName=table, Item={**_key("THREAD#1", "THREAD"), "n": {"N": "1"}})
    session = boto3.session.Session(region_name=clients.dynamodb.meta.region_name)
    worker = AwsClients(dynamodb=session.client("dynamodb"), s3=clients.s3, sqs=clients.sqs)
    reader, reads = session.client("dynamodb"), CallTally()
    reader.meta.events.register("before-parameter-build", lambda model, **_: reads.calls.update([model.name]))
    log = IndexWriteLog(TABLE_INDEXES, reader=reader)
    create = {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": "PK"}}
    busy = {
        "ConditionExpression": "attribute_exists(PK) AND (attribute_not_exists(#c) OR #c < :max)",
        "ExpressionAttributeNames": {"#c": "n"},
    }
    with (
        counting_aws_calls(clients, index_writes=log) as api_counter,
        counting_aws_calls(worker, index_writes=log) as worker_counter,
        api_counter.counting() as api,
        worker_counter.counting() as work,
    ):
        clients.dynamodb.put_item(TableName=table, Item=_active_run("THREAD#1"), **create)
        clients.dynamodb.update_item(
            **_update(table, _key("THREAD#1", "THREAD"), "SET n = :n", {":n": {"N": "2"}})
        )
        values = {":k": {"S": "0002"}, ":max": {"N": "9"}}
        worker.dynamodb.update_item(**_update(table, _key("THREAD#1"), "SET GSI2SK = :k", values), **busy)
        worker.dynamodb.update_item(**_update(table, _key("THREAD#1"), "REMOVE GSI2PK"))
        assert dict(reads.calls) == {"GetItem": 1}  # the thread item, seen for the first time
        assert _index_writes(api) == _index_writes(work) == {}  # not worked out yet
    assert _index_writes(api) == {GSI2: (1, 1, 1)}
    assert _index_writes(work) == {GSI2: (2, 3, 3)}
    assert "DeleteTable" in reads.calls  # the scratch table is gone
    assert table + "-index-replay" not in clients.dynamodb.list_tables()["TableNames"]


def test_concurrent_writes_each_count_their_own_items(aws: tuple[AwsClients, str]) -> None:
    """Each call's before and after reads pair up (botocore's per-call context), across threads."""
    clients, table = aws

    def lifecycle(number: int) -> None:  # enters (1), moves (2), leaves (1)
        pk = f"THREAD#{number}"
        clients.dynamodb.put_item(TableName=table, Item=_active_run(pk))
        clients.dynamodb.update_item(
            **_update(table, _key(pk), "SET GSI2SK = :k", {":k": {"S": f"0002#{pk}"}})
        )
        clients.dynamodb.update_item(**_update(table, _key(pk), "REMOVE GSI2PK, GSI2SK"))

    def all_at_once() -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lifecycle, range(16)))

    tally = _counted(clients, all_at_once)
    assert _index_writes(tally) == {GSI2: (48, 64, 64)}
    assert tally.requests() == 48


def test_only_projected_attributes_and_keys_make_index_writes() -> None:
    """KEYS_ONLY / INCLUDE projections (the template uses ALL): an unprojected attribute changes nothing."""
    table = TableIndexes(
        ("PK", "SK"),
        (
            GlobalIndex("BY_OWNER", ("owner",), frozenset({"title"})),
            GlobalIndex("BY_DAY", ("day",), frozenset()),
        ),
    )
    before = {"PK": {"S": "a"}, "SK": {"S": "b"}, "owner": {"S": "o"}, "day": {"N": "1"}, "title": {"S": "t"}}
    assert index_entry_writes(before, {**before, "note": {"S": "n"}}, table, item_size) == []
    assert index_entry_writes(before, {**before, "title": {"S": "u"}}, table, item_size) == [
        ("BY_OWNER", item_size({k: before[k] for k in ("PK", "SK", "owner")}) + len("title") + 1)
    ]
    assert [
        name for name, _ in index_entry_writes(before, {**before, "day": {"N": "2"}}, table, item_size)
    ] == [
        "BY_DAY",
        "BY_DAY",
    ]
    assert [name for name, _ in index_entry_writes(before, None, table, item_size)] == ["BY_OWNER", "BY_DAY"]
