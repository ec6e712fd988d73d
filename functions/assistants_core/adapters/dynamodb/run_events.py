"""The run event log ``THREAD#<tid>`` / ``EVT#<run_id>#<seq, 10 digits>`` (ports.RunEventLog).

Each event is its own item with a ``ttl`` (DynamoDB's TTL deletes it after ``ttl_seconds``; deleting the
thread leaves its events to the TTL). Appends are conditional puts (``attribute_not_exists``), several events
in one transaction: two writers that pick the same sequence number cannot both succeed, so the log never
forks; the loser reads the new tail and appends after it. A write that botocore retried after losing the
response of its first, successful try fails its condition on its own items: finding exactly our events at
our sequence numbers, the append counts as done (never appended twice). The next sequence number of recently
written runs is cached, so an append is usually a single write.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from assistants_core.adapters.dynamodb.items import thread_pk
from assistants_core.adapters.dynamodb.table import (
    MAX_TRANSACTION_ITEMS,
    DynamoTable,
    Expression,
    Item,
    absent_condition,
)
from assistants_core.adapters.errors import ConditionFailedError, TransactionCancelledError
from assistants_core.domain.errors import ConflictError
from assistants_core.domain.run_events import NewRunEvent, RunEvent

EVENT_PREFIX = "EVT#"
DEFAULT_EVENT_TTL_SECONDS = 24 * 3600
_SEQ_DIGITS = 10
_APPEND_ATTEMPTS = 8
_CACHED_RUNS = 1024


def events_prefix(run_id: str) -> str:
    return f"{EVENT_PREFIX}{run_id}#"


def event_sk(run_id: str, seq: int) -> str:
    return f"{events_prefix(run_id)}{seq:0{_SEQ_DIGITS}d}"


def event_to_item(thread_id: str, run_id: str, seq: int, event: NewRunEvent, ttl: int) -> Item:
    return {
        "PK": thread_pk(thread_id),
        "SK": event_sk(run_id, seq),
        "event": event.event,
        "data": json.dumps(event.data, separators=(",", ":")),
        "attempt": event.attempt,
        "ttl": ttl,
    }


def event_from_item(item: Item) -> RunEvent:
    return RunEvent(
        seq=int(str(item["SK"]).rsplit("#", 1)[1]),
        event=str(item["event"]),
        data=json.loads(item["data"]),
        attempt=int(item.get("attempt", 0)),
    )


class DynamoRunEventLog:
    def __init__(
        self,
        table: DynamoTable,
        *,
        ttl_seconds: int = DEFAULT_EVENT_TTL_SECONDS,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._ttl_seconds = ttl_seconds
        self._wall_clock = wall_clock
        self._next_seq: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def append(
        self, thread_id: str, run_id: str, events: Sequence[NewRunEvent], *, new_log: bool = False
    ) -> int:
        if not events:
            return self.last_seq(thread_id, run_id)
        if new_log:
            self._remember_next((thread_id, run_id), 1)
        last = 0
        for start in range(0, len(events), MAX_TRANSACTION_ITEMS):
            last = self._append_batch(thread_id, run_id, events[start : start + MAX_TRANSACTION_ITEMS])
        return last

    def read(self, thread_id: str, run_id: str, *, after_seq: int = 0, limit: int = 100) -> list[RunEvent]:
        items = self._table.query(
            partition=("PK", thread_pk(thread_id)),
            sort_attribute="SK",
            prefix=events_prefix(run_id),
            lower=event_sk(run_id, after_seq),
            want=limit,
        )
        return [event_from_item(item) for item in items]

    def last_seq(self, thread_id: str, run_id: str) -> int:
        items = self._table.query(
            partition=("PK", thread_pk(thread_id)),
            sort_attribute="SK",
            prefix=events_prefix(run_id),
            forward=False,
            want=1,
            keys_only=True,
        )
        return int(str(items[0]["SK"]).rsplit("#", 1)[1]) if items else 0

    def _append_batch(self, thread_id: str, run_id: str, events: Sequence[NewRunEvent]) -> int:
        key = (thread_id, run_id)
        ttl = int(self._wall_clock()) + self._ttl_seconds
        first = self._cached_next(key)
        for _ in range(_APPEND_ATTEMPTS):
            if first is None:
                first = self.last_seq(thread_id, run_id) + 1
            items = [
                event_to_item(thread_id, run_id, first + i, event, ttl) for i, event in enumerate(events)
            ]
            if self._put_all_new(items) or self._already_stored(thread_id, run_id, items):
                last = first + len(events) - 1
                self._remember_next(key, last + 1)
                return last
            first = None  # another writer took these numbers: start after the real tail
        raise ConflictError(f"Could not append to the event log of run '{run_id}'; please retry.")

    def _put_all_new(self, items: list[Item]) -> bool:
        """Put every item iff none of their keys exists yet; False when one does."""
        try:
            if len(items) == 1:
                put = Expression()
                self._table.put(items[0], put, absent_condition(put))
            else:
                operations: list[dict[str, Any]] = []
                for item in items:
                    put = Expression()
                    operations.append(self._table.put_op(item, put, absent_condition(put)))
                self._table.transact(operations)
        except (ConditionFailedError, TransactionCancelledError):
            return False
        return True

    def _already_stored(self, thread_id: str, run_id: str, items: list[Item]) -> bool:
        """Whether the log holds exactly ``items`` at their sequence numbers (our own earlier try)."""
        ours = [event_from_item(item) for item in items]
        return self.read(thread_id, run_id, after_seq=ours[0].seq - 1, limit=len(ours)) == ours

    def _cached_next(self, key: tuple[str, str]) -> int | None:
        with self._lock:
            return self._next_seq.get(key)

    def _remember_next(self, key: tuple[str, str], next_seq: int) -> None:
        with self._lock:
            self._next_seq[key] = next_seq
            self._next_seq.move_to_end(key)
            while len(self._next_seq) > _CACHED_RUNS:
                self._next_seq.popitem(last=False)
