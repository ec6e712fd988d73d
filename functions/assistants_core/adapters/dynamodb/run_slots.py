"""The tenant's active-run slots (ports.RunSlotStore): ``TENANT#<tenant>`` / ``QUOTA#RUNSLOT#<index>``, one
small item per run that holds one, ``index`` below the tenant's active-run limit.

A run takes its slot in its create transaction (a put conditional on the index being free) and gives it back
in the transaction of its terminal write (a delete conditional on the slot still being that run's): the
tenant never holds more slots than there are indexes, nothing counts that could drift, no item is written by
more than one run (no hot item), and a run pays two transaction items for its slot, no extra request. A
create whose index is taken reads the held slots (one Query) and picks a free one; a slot whose run
outlived its expiry without ending (its holder was deleted mid-run by a crash) is removed there.
"""

from __future__ import annotations

from typing import Any

from assistants_core.adapters.dynamodb.expressions import Expression, absent_condition
from assistants_core.adapters.dynamodb.quotas import tenant_pk
from assistants_core.adapters.dynamodb.table import DynamoTable
from assistants_core.adapters.errors import ConditionFailedError
from assistants_core.domain.models import Run
from assistants_core.ports import HeldRunSlot

RUN_SLOT_PREFIX = "QUOTA#RUNSLOT#"


def run_slot_sk(index: int) -> str:
    return f"{RUN_SLOT_PREFIX}{index}"


def take_run_slot_op(table: DynamoTable, run: Run, index: int) -> dict[str, Any]:
    """The transaction item taking slot ``index`` of the run's tenant for ``run`` (fails when it is held)."""
    item = {
        "PK": tenant_pk(run.owner),
        "SK": run_slot_sk(index),
        "run_id": run.id,
        "thread_id": run.thread_id,
        "expires_at": run.expires_at if run.expires_at is not None else run.created_at,
    }
    expression = Expression()
    return table.put_op(item, expression, absent_condition(expression))


def _held_by(expression: Expression, run_id: str) -> str:
    return f"{expression.name('run_id')} = {expression.value(run_id)}"


def give_back_run_slot_op(table: DynamoTable, run: Run, index: int) -> dict[str, Any]:
    """The transaction item giving back the run's slot (fails when the slot is no longer this run's)."""
    expression = Expression()
    return table.delete_op(tenant_pk(run.owner), run_slot_sk(index), expression, _held_by(expression, run.id))


class DynamoRunSlotStore:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def held_run_slots(self, tenant: str) -> list[HeldRunSlot]:
        items = self._table.query(
            partition=("PK", tenant_pk(tenant)), sort_attribute="SK", prefix=RUN_SLOT_PREFIX
        )
        return [
            HeldRunSlot(
                index=int(str(item["SK"]).removeprefix(RUN_SLOT_PREFIX)),
                run_id=str(item["run_id"]),
                thread_id=str(item["thread_id"]),
                expires_at=int(item["expires_at"]),
            )
            for item in items
        ]

    def remove_run_slot(self, tenant: str, slot: HeldRunSlot) -> None:
        give_back_run_slot(self._table, tenant, slot.index, slot.run_id)


def give_back_run_slot(table: DynamoTable, tenant: str, index: int, run_id: str) -> None:
    """Remove slot ``index`` if it is still held by ``run_id`` (a slot already gone is skipped)."""
    expression = Expression()
    try:
        table.delete(tenant_pk(tenant), run_slot_sk(index), expression, _held_by(expression, run_id))
    except ConditionFailedError:
        return
