"""The global-secondary-index writes of counted DynamoDB writes, worked out after the fact so that counting
them does not slow the writes down (``infra.aws_call_counter``'s opt-in mode; rules: ``infra.index_writes``).

While the clients run, a successful write is only logged (its parameters, in the order the calls ended), with
no request of its own, except the first time a write touches an item the log has not seen and the request does
not say was absent (a conditional create): that item is read once, so the log knows where it started. Against
moto, which serves one DynamoDB request at a time, a read per write would slow every other call and lengthen
what a benchmark measures (streams, polls).

``settle()`` then walks the log: a put gives the item after it, a delete none, and an update is replayed on a
scratch copy of the item (a table of the same keys on the same endpoint, created and deleted by ``settle``;
the update's condition left out, since it held). Each item's images before and after give its index writes,
counted in the tally of the client that wrote it. Concurrent writes to one item are ordered by when their
calls ended; two that overlap could be counted in the other order (in ``bench.run_cost`` only items that are
in no index, the tenant's quota counters, are written that way).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from infra.aws_call_counter import CallTally, index_writes_call, item_size, write_operation
from infra.index_writes import TableIndexes, WrittenItem, index_entry_writes, replayed_update, written_items

Image = Mapping[str, Any] | None
_WRITTEN = "index_write_log.items"
_KB = 1024


def _item_id(item: WrittenItem) -> tuple[str, str]:
    return item.table_name, json.dumps(item.key, sort_keys=True)


@dataclass(frozen=True, slots=True)
class _Logged:
    tally: CallTally
    items: list[WrittenItem]
    bodies: list[Mapping[str, Any]]  # each item's Put / Update / Delete parameters


class IndexWriteLog:
    """Shared by the counters of every client that writes the table (their writes to one item are replayed
    in one order)."""

    def __init__(self, table: TableIndexes, reader: Any = None) -> None:
        """``reader``: the DynamoDB client that reads items and holds the scratch table (by default a new
        client of the first attached client's endpoint, region and configuration)."""
        self.table = table
        self._lock = threading.Lock()
        self._settling = threading.Lock()  # one settle at a time: the log is walked in order
        self._started: dict[tuple[str, str], Image] = {}  # each item as the log first saw it
        self._current: dict[tuple[str, str], Image] = {}  # as the settled writes left it
        self._pending: list[_Logged] = []
        self._reader = reader

    def attach(self, client: Any, tally: CallTally) -> Callable[[], None]:
        """Log ``client``'s successful writes for ``tally``; returns what detaches it."""
        if self._reader is None:  # a separate client of the same endpoint: its reads are never counted
            session = boto3.session.Session(region_name=client.meta.region_name)
            self._reader = session.client(
                "dynamodb", endpoint_url=client.meta.endpoint_url, config=client.meta.config
            )

        def note(params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            if write_operation(model.name):
                try:
                    context[_WRITTEN] = (
                        written_items(model.name, params, self.table),
                        _bodies(model.name, params),
                    )
                except (KeyError, StopIteration):  # malformed: DynamoDB rejects it (botocore or the service)
                    return

        def read_unseen(context: dict[str, Any], **_: Any) -> None:  # after validation, before the request
            for item in context.get(_WRITTEN, ([], []))[0]:
                if item.read_before and _item_id(item) not in self._started:
                    image = self._read(item.table_name, item.key)
                    with self._lock:
                        self._started.setdefault(_item_id(item), image)

        def log(http_response: Any, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
            """A failed write (a condition not met, a cancelled transaction) writes no index entry."""
            if _WRITTEN not in context or http_response.status_code >= 300:
                return
            items, bodies = context[_WRITTEN]
            unprocessed = parsed.get("UnprocessedItems") or {}
            done = [
                body not in unprocessed.get(item.table_name, [])
                for item, body in zip(items, bodies, strict=True)
            ]
            kept = [(item, body) for item, body, written in zip(items, bodies, done, strict=True) if written]
            with self._lock:
                for item, _ in kept:  # a conditional create that succeeded: the item was not there
                    if not item.read_before:
                        self._started.setdefault(_item_id(item), None)
                self._pending.append(_Logged(tally, [item for item, _ in kept], [body for _, body in kept]))

        handlers = (
            ("before-parameter-build.dynamodb", note),
            ("before-call.dynamodb", read_unseen),
            ("after-call.dynamodb", log),
        )
        for event, handler in handlers:
            client.meta.events.register(event, handler)

        def detach() -> None:
            for event, handler in handlers:
                client.meta.events.unregister(event, handler)

        return detach

    def _read(self, table_name: str, key: Mapping[str, Any]) -> Image:
        image: Image = self._reader.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item")
        return image

    def settle(self) -> None:
        """Count the index writes of the writes logged so far into their tallies."""
        with self._settling:
            with self._lock:
                pending, self._pending = self._pending, []
            self._settle(pending)

    def _settle(self, pending: list[_Logged]) -> None:
        scratch: dict[str, str] = {}  # table -> its scratch copy
        try:
            for logged in pending:
                per_index: dict[str, list[int]] = {}
                for item, body in zip(logged.items, logged.bodies, strict=True):
                    before = self._current.get(_item_id(item), self._started.get(_item_id(item)))
                    after = item.after if not item.read_after else self._replay(item, body, before, scratch)
                    self._current[_item_id(item)] = after
                    for index, size in index_entry_writes(before, after, self.table, item_size):
                        per_index.setdefault(index, []).append(size)
                for index, sizes in per_index.items():
                    name = index_writes_call(index)
                    logged.tally.calls[name] += 1
                    logged.tally.items[name] += len(sizes)
                    logged.tally.written_kilobytes[name] += sum(-(-size // _KB) or 1 for size in sizes)
        finally:
            for name in scratch.values():
                self._reader.delete_table(TableName=name)

    def _replay(
        self, item: WrittenItem, body: Mapping[str, Any], before: Image, scratch: dict[str, str]
    ) -> Image:
        """The item after ``body``'s update, applied to ``before`` on the scratch table."""
        if item.table_name not in scratch:
            scratch[item.table_name] = self._create_scratch(item)
        name = scratch[item.table_name]
        if before is None:
            self._reader.delete_item(TableName=name, Key=item.key)
        else:
            self._reader.put_item(TableName=name, Item=before)
        self._reader.update_item(**replayed_update(body, name))
        return self._read(name, item.key)

    def _create_scratch(self, item: WrittenItem) -> str:
        name = f"{item.table_name}-index-replay"
        keys = self.table.table_keys
        self._reader.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": key, "KeyType": "HASH" if i == 0 else "RANGE"} for i, key in enumerate(keys)
            ],
            AttributeDefinitions=[
                {"AttributeName": key, "AttributeType": next(iter(item.key[key]))} for key in keys
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self._reader.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        return name


def _bodies(operation: str, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The parameters of each item's write, in ``written_items``' order."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [params]
    if operation == "BatchWriteItem":
        return [request for requests in params.get("RequestItems", {}).values() for request in requests]
    entries = (next(iter(entry.items())) for entry in params.get("TransactItems", []))
    return [body for kind, body in entries if kind != "ConditionCheck"]
