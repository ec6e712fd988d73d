"""``WorkerPresence`` on one item of the table (``WORKER`` / ``PRESENCE``): ``alive_until`` written by live
consumers, ``wake_requested_at`` by the API's conditional write (at most one wake per debounce window)."""

from __future__ import annotations

import contextlib

from assistants_core.adapters.dynamodb.table import DynamoTable, Expression
from assistants_core.adapters.errors import ConditionFailedError

PRESENCE_PK = "WORKER"
PRESENCE_SK = "PRESENCE"
INGESTION_PRESENCE_SK = "INGESTION"  # the ingestion worker's wakes (debounced on their own item)


class DynamoWorkerPresence:
    def __init__(self, table: DynamoTable, *, item: str = PRESENCE_SK) -> None:
        self._table = table
        self._item = item

    def mark_consumer_alive(self, until: float) -> None:
        expression = Expression()
        alive = expression.name("alive_until")
        expression.set("alive_until", until)
        # Never moves the mark back (two consumers checking in out of order).
        condition = f"attribute_not_exists({alive}) OR {alive} < {expression.value(until)}"
        with contextlib.suppress(ConditionFailedError):  # another consumer already marked a later time
            self._table.update(PRESENCE_PK, self._item, expression, condition)

    def claim_wake(self, now: float, debounce_seconds: float) -> bool:
        # A read first (1 RRU, a fifth of a write's price): while a consumer is live, as under load, the hot
        # item is never written; the conditional write below decides races between API instances.
        state = self._table.get(PRESENCE_PK, self._item) or {}
        if float(state.get("alive_until", 0)) >= now:
            return False
        if float(state.get("wake_requested_at", 0)) >= now - debounce_seconds:
            return False
        expression = Expression()
        alive = expression.name("alive_until")
        requested = expression.name("wake_requested_at")
        expression.set("wake_requested_at", now)
        no_consumer = f"(attribute_not_exists({alive}) OR {alive} < {expression.value(now)})"
        not_recent = (
            f"(attribute_not_exists({requested}) OR {requested} < {expression.value(now - debounce_seconds)})"
        )
        try:
            self._table.update(PRESENCE_PK, self._item, expression, f"{no_consumer} AND {not_recent}")
        except ConditionFailedError:
            return False
        return True
