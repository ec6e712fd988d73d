"""Per-tenant quota counters in the table (``ports.TenantQuotaStore``), shared by every API instance.

- Request rate: one item per tenant and fixed window, ``TENANT#<tenant>`` / ``QUOTA#REQUESTS#<window start>``,
  ``n`` counted by a conditional ``UpdateItem`` (``n + amount <= limit``), deleted by DynamoDB's TTL after
  the window. One write per block of requests an API instance takes at once (``services/quotas.py``).
- Leased slots (open streams): one item per tenant and kind, ``TENANT#<tenant>`` / ``QUOTA#<kind>``, with a
  counter ``n`` and one top-level attribute ``slot_<id>`` per holder (its lease's expiry and a note). Taking
  a slot is one conditional ``UpdateItem`` (``n < limit`` and the slot not held yet), giving it back another
  (the slot held): the counter cannot drift, and a holder that died without giving its slot back is removed
  once its lease expired (``remove_slots``, conditional on the slot still being there, so two cleaners never
  subtract twice). Active runs have their own slot items,
  taken and given back inside the runs' transactions (``run_slots.py``).
"""

from __future__ import annotations

from assistants_core.adapters.dynamodb.table import DynamoTable, Expression
from assistants_core.adapters.errors import ConditionFailedError
from assistants_core.ports import QuotaSlot

_COUNT = "n"
_SLOT_PREFIX = "slot_"


def tenant_pk(tenant: str) -> str:
    return f"TENANT#{tenant}"


def requests_sk(window_start: int) -> str:
    return f"QUOTA#REQUESTS#{window_start}"


def slots_sk(kind: str) -> str:
    return f"QUOTA#{kind}"


class DynamoTenantQuotaStore:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def count_request(
        self, tenant: str, window_start: int, *, limit: int, expires_at: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        expression = Expression()
        count = expression.name(_COUNT)
        expression.set_clause(
            f"{count} = if_not_exists({count}, {expression.value(0)}) + {expression.value(amount)}"
        )
        expression.set("ttl", expires_at)
        condition = f"attribute_not_exists({count}) OR {count} <= {expression.value(limit - amount)}"
        try:
            self._table.update(tenant_pk(tenant), requests_sk(window_start), expression, condition)
        except ConditionFailedError:
            return False
        return True

    def acquire_slot(self, tenant: str, kind: str, slot: QuotaSlot, *, limit: int) -> bool:
        expression = Expression()
        count = expression.name(_COUNT)
        holder = expression.name(_SLOT_PREFIX + slot.slot_id)
        expression.set_clause(
            f"{count} = if_not_exists({count}, {expression.value(0)}) + {expression.value(1)}"
        )
        expression.set_clause(
            f"{holder} = {expression.value({'expires_at': slot.expires_at, 'note': slot.note})}"
        )
        free = f"(attribute_not_exists({count}) OR {count} < {expression.value(limit)})"
        try:
            self._table.update(
                tenant_pk(tenant), slots_sk(kind), expression, f"{free} AND attribute_not_exists({holder})"
            )
        except ConditionFailedError:
            return False
        return True

    def release_slot(self, tenant: str, kind: str, slot_id: str) -> None:
        self.remove_slots(tenant, kind, [slot_id])

    def slots(self, tenant: str, kind: str) -> list[QuotaSlot]:
        item = self._table.get(tenant_pk(tenant), slots_sk(kind)) or {}
        return [
            QuotaSlot(name.removeprefix(_SLOT_PREFIX), int(value["expires_at"]), str(value.get("note", "")))
            for name, value in item.items()
            if name.startswith(_SLOT_PREFIX) and isinstance(value, dict)
        ]

    def remove_slots(self, tenant: str, kind: str, slot_ids: list[str]) -> None:
        """Give back each slot still held (one conditional write each; one already gone is skipped)."""
        for slot_id in slot_ids:
            expression = Expression()
            count = expression.name(_COUNT)
            holder = expression.name(_SLOT_PREFIX + slot_id)
            expression.set_clause(f"{count} = {count} - {expression.value(1)}")
            expression.remove(_SLOT_PREFIX + slot_id)
            try:
                self._table.update(
                    tenant_pk(tenant), slots_sk(kind), expression, f"attribute_exists({holder})"
                )
            except ConditionFailedError:
                continue
