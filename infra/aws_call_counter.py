"""Counts the DynamoDB / S3 / SQS calls a set of boto3 clients makes, deterministically, with a botocore
``before-parameter-build`` hook (one event per API call, retries not included). Used by the e2e call-count
test and the benchmarks (bench/api_latency.py, bench/run_cost.py).

Besides ``"<service>.<Operation>"`` call counts it records how many items each call touched (the entries of a
``TransactWriteItems`` / ``TransactGetItems``, the requests of a ``BatchWriteItem`` / ``BatchGetItem``; 1
otherwise) and, for writes, how many 1 KB units the written items take (DynamoDB bills a write one unit per
started KB of the item; an item the request does not carry whole, an update or delete, counts as one KB):
what DynamoDB bills request units on.

Opt-in (``index_writes=IndexWriteLog(TableIndexes.from_template())``, one log shared by the counters of all
clients that write the table): the writes to the table's global secondary indexes that each successful
DynamoDB write makes, as AWS bills them (``infra.index_writes``, ``infra.index_write_log``), recorded per
index as the pseudo-call ``"dynamodb.<index> index writes"`` (calls: the table writes that wrote the
index; items: the index entries written; written_kilobytes: their 1 KB units), worked out when a
``counting()`` block starts or ends and when the counter closes (not while the writes run: no request is
added to them). Off by default: the calls counted are then exactly the calls made."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistants_core.adapters.aws import AwsClients

if TYPE_CHECKING:
    from infra.index_write_log import IndexWriteLog

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


def write_operation(operation: str) -> bool:
    return operation in _WRITE_OPERATIONS


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


class AwsCallCounter:
    """Registers on the given clients' event systems until ``close()``; with ``index_writes``, also counts
    the global-secondary-index writes of the DynamoDB client's writes (``IndexWriteLog``)."""

    def __init__(self, clients: AwsClients, index_writes: IndexWriteLog | None = None) -> None:
        self.tally = CallTally()
        self._registered: list[tuple[Any, Callable[..., None]]] = []
        for service in SERVICES:
            client = getattr(clients, service)
            recorder = self._recorder(service)
            client.meta.events.register(HOOK_EVENT, recorder)
            self._registered.append((client, recorder))
        self._index_writes = index_writes
        self._detach_index_writes = (
            index_writes.attach(clients.dynamodb, self.tally) if index_writes else None
        )

    def settle(self) -> None:
        """Count the index writes of the writes made so far (index-write mode; nothing otherwise)."""
        if self._index_writes is not None:
            self._index_writes.settle()

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
        self.settle()
        before = self.tally.copy()
        result = CallTally()
        try:
            yield result
        finally:
            self.settle()
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
        if self._detach_index_writes is not None:
            self.settle()
            self._detach_index_writes()
            self._detach_index_writes = self._index_writes = None


@contextmanager
def counting_aws_calls(
    clients: AwsClients, *, index_writes: IndexWriteLog | None = None
) -> Iterator[AwsCallCounter]:
    counter = AwsCallCounter(clients, index_writes)
    try:
        yield counter
    finally:
        counter.close()
