"""Counts the DynamoDB / S3 / SQS calls a set of boto3 clients makes, deterministically, with a botocore
``before-parameter-build`` hook (one event per API call, retries not included). Used by the e2e call-count
test and the benchmarks (bench/api_latency.py, bench/run_cost.py).

Besides ``"<service>.<Operation>"`` call counts it records how many items each call touched (the entries of a
``TransactWriteItems`` / ``TransactGetItems``, the requests of a ``BatchWriteItem`` / ``BatchGetItem``; 1
otherwise), which is what DynamoDB bills request units on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from assistants_core.adapters.aws import AwsClients

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


def per_service(calls: Mapping[str, int], service: str) -> int:
    """Calls of one service (``"dynamodb"``, ``"s3"``, ``"sqs"``) in a ``"<service>.<Operation>"`` count."""
    return sum(count for name, count in calls.items() if name.startswith(service + "."))


@dataclass
class CallTally:
    """What was counted: calls and items per ``"<service>.<Operation>"``."""

    calls: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)

    def add(self, other: CallTally) -> None:
        self.calls.update(other.calls)
        self.items.update(other.items)


class AwsCallCounter:
    """Registers on the given clients' event systems until ``close()``."""

    def __init__(self, clients: AwsClients) -> None:
        self.tally = CallTally()
        self._registered: list[tuple[Any, Callable[..., None]]] = []
        for service in SERVICES:
            client = getattr(clients, service)
            recorder = self._recorder(service)
            client.meta.events.register(HOOK_EVENT, recorder)
            self._registered.append((client, recorder))

    def _recorder(self, service: str) -> Callable[..., None]:
        def record(params: Mapping[str, Any], model: Any, **kwargs: Any) -> None:
            name = f"{service}.{model.name}"
            self.tally.calls[name] += 1
            self.tally.items[name] += items_touched(model.name, params)

        return record

    @contextmanager
    def counting(self) -> Iterator[CallTally]:
        """The calls made inside the block (the tally is filled when the block ends)."""
        before = CallTally(Counter(self.tally.calls), Counter(self.tally.items))
        result = CallTally()
        try:
            yield result
        finally:
            result.calls.update(self.tally.calls - before.calls)
            result.items.update(self.tally.items - before.items)

    def measure(self, action: Callable[[], Any]) -> tuple[Any, Counter[str]]:
        """``action()``'s result and the calls it made."""
        with self.counting() as tally:
            result = action()
        return result, tally.calls

    def close(self) -> None:
        for client, recorder in self._registered:
            client.meta.events.unregister(HOOK_EVENT, recorder)
        self._registered.clear()


@contextmanager
def counting_aws_calls(clients: AwsClients) -> Iterator[AwsCallCounter]:
    counter = AwsCallCounter(clients)
    try:
        yield counter
    finally:
        counter.close()
