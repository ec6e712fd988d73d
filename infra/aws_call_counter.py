"""Counts the DynamoDB / S3 / SQS calls a set of boto3 clients makes, deterministically, with a botocore
``before-parameter-build`` hook (one event per API call, retries not included). Used by the e2e call-count
test and the benchmarks (bench/api_latency.py, bench/run_cost.py).

Besides ``"<service>.<Operation>"`` call counts it records how many items each call touched (the entries of a
``TransactWriteItems`` / ``TransactGetItems``, the requests of a ``BatchWriteItem`` / ``BatchGetItem``; 1
otherwise) and, for writes, how many 1 KB units the written items take (DynamoDB bills a write one unit per
started KB of the item; an item the request does not carry whole, an update or delete, counts as one KB):
what DynamoDB bills request units on.

Opt-in (``index_writes=TableIndexes.from_template()``): the writes to the table's global secondary indexes
that each successful DynamoDB write makes, as AWS bills them (``infra.index_writes``), recorded per index as
the pseudo-call ``"dynamodb.<index> index writes"`` (calls: the table writes that wrote the index; items: the
index entries written; written_kilobytes: their 1 KB units). To see them, the item each write touches is read
before and after the call where the request does not tell (strongly consistent ``GetItem``s on a separate
client, never counted; a conditional create needs no read, a put or delete no read after). The reads of one
call pair up through botocore's per-call request context, so concurrent calls do not mix; a write to the same
item by another client between a call's two reads would be counted with it. Off by default: the calls
counted are then exactly the calls made."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from assistants_core.adapters.aws import AwsClients
from infra.index_writes import TableIndexes, WrittenItem, index_entry_writes, written_items

HOOK_EVENT = "before-parameter-build"
SERVICES = ("dynamodb", "s3", "sqs")


def items_touched(operation: str, params: Mapping[str, Any]) -> int:
    """Items one call reads or writes: the entries of a transaction or batch, otherwise 1."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return len(params.get("TransactItems", []))
    if operation == "BatchWriteItem":
        return sum(len(requests) for requests in params.get("RequestItems", {}).values())
    if operation == "BatchGetItem":
        return sum(len(table.get("Keys", [])) for table in params.get("RequestItems", {}).values())
    return 1


_KB = 1024
_WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
INDEX_WRITES = "index writes"


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one DynamoDB attribute value in the wire format (DynamoDB's item-size rules, closely)."""
    kind, content = next(iter(value.items()))
    if kind == "S":
        return len(str(content).encode())
    if kind in ("N", "B"):
        return len(content) if kind == "B" else len(str(content).lstrip("-").replace(".", "")) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + item_size({name: inner}) for name, inner in content.items())
    if kind == "L":
        return 3 + sum(1 + attribute_size(inner) for inner in content)
    return sum(len(str(member).encode()) for member in content)  # SS, NS, BS


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of an item: attribute names plus values."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_kilobytes(operation: str, params: Mapping[str, Any]) -> int:
    """1 KB units one write call bills per item (before any transaction factor); 0 for non-writes."""
    if operation not in _WRITE_OPERATIONS:
        return 0
    if operation == "PutItem":
        return -(-item_size(params.get("Item", {})) // _KB) or 1
    if operation == "TransactWriteItems":
        entries = [next(iter(entry.values())) for entry in params.get("TransactItems", [])]
    elif operation == "BatchWriteItem":
        entries = [
            request.get("PutRequest", {})
            for requests in params.get("RequestItems", {}).values()
            for request in requests
        ]
    else:
        return 1
    return sum(-(-item_size(entry["Item"]) // _KB) if "Item" in entry else 1 for entry in entries)


def index_writes_call(index: str) -> str:
    """The pseudo-call under which the writes to global secondary index ``index`` are counted."""
    return f"dynamodb.{index} {INDEX_WRITES}"


def is_index_writes(call_name: str) -> bool:
    return call_name.startswith("dynamodb.") and call_name.endswith(" " + INDEX_WRITES)


def per_service(calls: Mapping[str, int], service: str) -> int:
    """Calls of one service (``"dynamodb"``, ``"s3"``, ``"sqs"``) in a ``"<service>.<Operation>"`` count."""
    return sum(count for name, count in calls.items() if name.startswith(service + "."))


@dataclass
class CallTally:
    """What was counted: calls and items per ``"<service>.<Operation>"``."""

    calls: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)
    written_kilobytes: Counter[str] = field(default_factory=Counter)

    def requests(self) -> int:
        """AWS requests made: the calls, without the index-write pseudo-calls."""
        return sum(count for name, count in self.calls.items() if not is_index_writes(name))

    def add(self, other: CallTally) -> None:
        self.calls.update(other.calls)
        self.items.update(other.items)
        self.written_kilobytes.update(other.written_kilobytes)

    def copy(self) -> CallTally:
        return CallTally(Counter(self.calls), Counter(self.items), Counter(self.written_kilobytes))

    def since(self, earlier: CallTally) -> CallTally:
        """What was counted after ``earlier`` (a copy of this tally taken before)."""
        return CallTally(
            self.calls - earlier.calls,
            self.items - earlier.items,
            self.written_kilobytes - earlier.written_kilobytes,
        )


_WRITTEN, _BEFORE = "counted_index_writes.items", "counted_index_writes.before"


class IndexWriteRecorder:
    """Counts the global-secondary-index writes of one DynamoDB client's successful writes into ``tally``,
    reading each written item before and after the call with ``reader`` (by default a new client of the same
    endpoint, region and configuration)."""

    def __init__(self, client: Any, table: TableIndexes, tally: CallTally, reader: Any = None) -> None:
        self._client, self._table, self._tally = client, table, tally
        self._tally_lock = threading.Lock()  # writes from many threads: no count lost
        self._reader = reader or boto3.session.Session(region_name=client.meta.region_name).client(
            "dynamodb", endpoint_url=client.meta.endpoint_url, config=client.meta.config
        )
        self._handlers = (
            ("before-parameter-build.dynamodb", self._note_items),
            ("before-call.dynamodb", self._read_before),  # after validation, before the request (and retries)
            ("after-call.dynamodb", self._count),
        )
        for event, handler in self._handlers:
            client.meta.events.register(event, handler)

    def _read(self, item: WrittenItem) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._reader.get_item(
            TableName=item.table_name, Key=item.key, ConsistentRead=True
        ).get("Item")
        return found

    def _note_items(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in _WRITE_OPERATIONS:
            try:
                context[_WRITTEN] = written_items(model.name, params, self._table)
            except (KeyError, StopIteration):  # malformed: DynamoDB rejects it (botocore or the service)
                return

    def _read_before(self, context: dict[str, Any], **_: Any) -> None:
        if _WRITTEN in context:
            context[_BEFORE] = [self._read(item) if item.read_before else None for item in context[_WRITTEN]]

    def _count(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        """A failed write (a condition not met, a cancelled transaction) writes no index entry."""
        before = context.pop(_BEFORE, None)
        if before is None or http_response.status_code >= 300:
            return
        after = [self._read(item) if item.read_after else item.after for item in context[_WRITTEN]]
        per_index: dict[str, list[int]] = {}
        for old, new in zip(before, after, strict=True):
            for index, size in index_entry_writes(old, new, self._table, item_size):
                per_index.setdefault(index, []).append(size)
        with self._tally_lock:
            for index, sizes in per_index.items():
                name = index_writes_call(index)
                self._tally.calls[name] += 1
                self._tally.items[name] += len(sizes)
                self._tally.written_kilobytes[name] += sum(-(-size // _KB) or 1 for size in sizes)

    def close(self) -> None:
        for event, handler in self._handlers:
            self._client.meta.events.unregister(event, handler)


class AwsCallCounter:
    """Registers on the given clients' event systems until ``close()``; with ``index_writes``, also counts
    the global-secondary-index writes of the DynamoDB client's writes (``IndexWriteRecorder``)."""

    def __init__(self, clients: AwsClients, index_writes: TableIndexes | None = None) -> None:
        self.tally = CallTally()
        self._registered: list[tuple[Any, Callable[..., None]]] = []
        for service in SERVICES:
            client = getattr(clients, service)
            recorder = self._recorder(service)
            client.meta.events.register(HOOK_EVENT, recorder)
            self._registered.append((client, recorder))
        self._index_writes = (
            IndexWriteRecorder(clients.dynamodb, index_writes, self.tally)
            if index_writes is not None
            else None
        )

    def _recorder(self, service: str) -> Callable[..., None]:
        def record(params: Mapping[str, Any], model: Any, **kwargs: Any) -> None:
            name = f"{service}.{model.name}"
            self.tally.calls[name] += 1
            self.tally.items[name] += items_touched(model.name, params)
            self.tally.written_kilobytes[name] += write_kilobytes(model.name, params)

        return record

    @contextmanager
    def counting(self) -> Iterator[CallTally]:
        """The calls made inside the block (the tally is filled when the block ends)."""
        before = self.tally.copy()
        result = CallTally()
        try:
            yield result
        finally:
            result.add(self.tally.since(before))

    def measure(self, action: Callable[[], Any]) -> tuple[Any, Counter[str]]:
        """``action()``'s result and the calls it made."""
        with self.counting() as tally:
            result = action()
        return result, tally.calls

    def close(self) -> None:
        for client, recorder in self._registered:
            client.meta.events.unregister(HOOK_EVENT, recorder)
        self._registered.clear()
        if self._index_writes is not None:
            self._index_writes.close()
            self._index_writes = None


@contextmanager
def counting_aws_calls(
    clients: AwsClients, *, index_writes: TableIndexes | None = None
) -> Iterator[AwsCallCounter]:
    counter = AwsCallCounter(clients, index_writes)
    try:
        yield counter
    finally:
        counter.close()
