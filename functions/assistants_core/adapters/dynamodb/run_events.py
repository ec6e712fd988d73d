"""The run event log ``THREAD#<tid>`` / ``EVT#<run_id>#<seq, 10 digits>`` (ports.RunEventLog).

One append is ONE conditional put (``attribute_not_exists``, no transaction) of one item holding the
appended events (up to ``MAX_EVENTS_PER_ITEM``, and under ``MAX_ITEM_BYTES``; a longer append takes more
items): its sort key carries the FIRST event's sequence number, ``last`` the last one's. Every writer picks
the next number after the last of an item it knows, so two writers that pick the same number collide on the
same key and cannot both succeed: the log never forks; the loser reads the new tail and appends after it.
Each item has a ``ttl`` (DynamoDB's TTL deletes it after ``ttl_seconds``; deleting the thread leaves its
events to the TTL). A write that botocore retried after losing the response of its first, successful try
fails its condition on its own item: finding exactly our events at our sequence numbers, the append counts as
done (never appended twice). The next sequence number of recently written runs is cached, and a caller may
pass a hint (the run's ``stream_log_seq``), so an append is usually a single write with no read of the tail.

Readers ask for events after a sequence number: an item holding that number and later ones starts at most
``MAX_EVENTS_PER_ITEM - 1`` numbers before, so a read starts its Query there and drops what it already had.
Items of the one-event-per-item layout (``event``/``data``/``attempt``) read the same.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

from assistants_core.adapters.dynamodb.items import thread_pk
from assistants_core.adapters.dynamodb.table import DynamoTable, Expression, Item, absent_condition
from assistants_core.adapters.errors import ConditionFailedError
from assistants_core.domain.errors import ConflictError
from assistants_core.domain.run_events import NewRunEvent, RunEvent

EVENT_PREFIX = "EVT#"
DEFAULT_EVENT_TTL_SECONDS = 24 * 3600
MAX_EVENTS_PER_ITEM = 16
MAX_ITEM_BYTES = 300_000  # of event JSON per item (DynamoDB's item limit is 400 KB)
_SEQ_DIGITS = 10
_APPEND_ATTEMPTS = 8
_CACHED_RUNS = 1024


def events_prefix(run_id: str) -> str:
    return f"{EVENT_PREFIX}{run_id}#"


def event_sk(run_id: str, seq: int) -> str:
    return f"{events_prefix(run_id)}{seq:0{_SEQ_DIGITS}d}"


def _encoded(event: NewRunEvent) -> str:
    return json.dumps([event.event, event.data, event.attempt], separators=(",", ":"))


def events_to_item(thread_id: str, run_id: str, first: int, encoded: Sequence[str], ttl: int) -> Item:
    """One item holding the events ``first``, ``first + 1``, ... (``encoded`` by ``_encoded``)."""
    return {
        "PK": thread_pk(thread_id),
        "SK": event_sk(run_id, first),
        "last": first + len(encoded) - 1,
        "events": "[" + ",".join(encoded) + "]",
        "ttl": ttl,
    }


def _item_first_seq(item: Item) -> int:
    return int(str(item["SK"]).rsplit("#", 1)[1])


def _item_last_seq(item: Item) -> int:
    return int(item["last"]) if "last" in item else _item_first_seq(item)


def events_from_item(item: Item) -> list[RunEvent]:
    first = _item_first_seq(item)
    if "events" not in item:  # one event per item
        attempt = int(item.get("attempt", 0))
        return [RunEvent(seq=first, event=str(item["event"]), data=json.loads(item["data"]), attempt=attempt)]
    return [
        RunEvent(seq=first + offset, event=name, data=data, attempt=int(attempt))
        for offset, (name, data, attempt) in enumerate(json.loads(item["events"]))
    ]


def _chunks(events: Sequence[NewRunEvent]) -> Iterator[list[str]]:
    """The encoded events in item-sized groups, in order."""
    chunk: list[str] = []
    size = 0
    for event in events:
        encoded = _encoded(event)
        if chunk and (len(chunk) == MAX_EVENTS_PER_ITEM or size + len(encoded) > MAX_ITEM_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded)
    if chunk:
        yield chunk


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
        self,
        thread_id: str,
        run_id: str,
        events: Sequence[NewRunEvent],
        *,
        new_log: bool = False,
        last_seq_hint: int | None = None,
    ) -> int:
        if not events:
            return self.last_seq(thread_id, run_id)
        key = (thread_id, run_id)
        if new_log:
            self._remember_next(key, 1)
        elif last_seq_hint is not None and self._cached_next(key) is None:
            self._remember_next(key, last_seq_hint + 1)
        last = 0
        for chunk in _chunks(events):
            last = self._append_item(thread_id, run_id, chunk)
        return last

    def read(self, thread_id: str, run_id: str, *, after_seq: int = 0, limit: int = 100) -> list[RunEvent]:
        # An item holding ``after_seq + 1`` starts at most MAX_EVENTS_PER_ITEM - 1 numbers before it.
        earliest_start = after_seq + 2 - MAX_EVENTS_PER_ITEM
        items = self._table.query(
            partition=("PK", thread_pk(thread_id)),
            sort_attribute="SK",
            prefix=events_prefix(run_id),
            lower=event_sk(run_id, earliest_start - 1) if earliest_start > 1 else None,
            want=limit + MAX_EVENTS_PER_ITEM,
        )
        found: list[RunEvent] = []
        for item in items:
            if _item_last_seq(item) <= after_seq:
                continue
            found += [event for event in events_from_item(item) if event.seq > after_seq]
            if len(found) >= limit:
                break
        return found[:limit]

    def last_seq(self, thread_id: str, run_id: str) -> int:
        items = self._table.query(
            partition=("PK", thread_pk(thread_id)),
            sort_attribute="SK",
            prefix=events_prefix(run_id),
            forward=False,
            want=1,
        )
        return _item_last_seq(items[0]) if items else 0

    def _append_item(self, thread_id: str, run_id: str, encoded: list[str]) -> int:
        key = (thread_id, run_id)
        ttl = int(self._wall_clock()) + self._ttl_seconds
        first = self._cached_next(key)
        for _ in range(_APPEND_ATTEMPTS):
            if first is None:
                first = self.last_seq(thread_id, run_id) + 1
            item = events_to_item(thread_id, run_id, first, encoded, ttl)
            if self._put_new(item) or self._already_stored(thread_id, run_id, item):
                last = first + len(encoded) - 1
                self._remember_next(key, last + 1)
                return last
            first = None  # another writer took this number: start after the real tail
        raise ConflictError(f"Could not append to the event log of run '{run_id}'; please retry.")

    def _put_new(self, item: Item) -> bool:
        """Put ``item`` iff its key does not exist yet; False when it does."""
        put = Expression()
        try:
            self._table.put(item, put, absent_condition(put))
        except ConditionFailedError:
            return False
        return True

    def _already_stored(self, thread_id: str, run_id: str, item: Item) -> bool:
        """Whether the log holds exactly ``item``'s events at their numbers (our own earlier try)."""
        ours = events_from_item(item)
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
