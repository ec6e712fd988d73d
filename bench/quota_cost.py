"""The per-tenant quotas' share of a run's cost (``bench.run_cost``): the active-run slot item, measured."""

from __future__ import annotations

import math
import time

from api.deps import ApiDependencies
from assistants_core.adapters.aws import make_aws_clients
from assistants_core.adapters.dynamodb.quotas import slots_sk, tenant_pk
from assistants_core.domain import ids
from assistants_core.domain.models import Run
from assistants_core.domain.status import RunStatus
from assistants_core.services.quotas import RUNS
from bench.local import api_settings
from infra.aws_call_counter import item_size
from infra.local_env import LOCAL_TENANT
from infra.local_stack import LocalStack


def take_and_give_back_a_run_slot(api: ApiDependencies) -> None:
    """A create's quota step for a probe run, then its give-back (as a create whose write failed): at the
    tenant's limit, the slots of the runs that ended are removed first."""
    probe = Run(
        id=ids.new_id(ids.RUN),
        owner=LOCAL_TENANT,
        thread_id=ids.new_id(ids.THREAD),
        assistant_id="asst_probe",
        created_at=int(time.time()),
        status=RunStatus.QUEUED,
        model="scripted",
        instructions=None,
        expires_at=int(time.time()) + 600,
    )
    api.quotas.admit_run(probe)
    api.quotas.release_run(probe)


def slot_item_bytes(stack: LocalStack, *, empty: bool = False) -> int:
    """Bytes of the tenant's active-run slot item now (``empty``: without its slots), on uncounted clients."""
    settings = api_settings(stack)
    key = {"PK": {"S": tenant_pk(LOCAL_TENANT)}, "SK": {"S": slots_sk(RUNS)}}
    item = (
        make_aws_clients(settings).dynamodb.get_item(TableName=settings.table_name, Key=key).get("Item", {})
    )
    if empty:
        item = {name: value for name, value in item.items() if not name.startswith("slot_")}
    return item_size(item)


def slot_write_extra_wru(slot_item_bytes: tuple[int, int], slots: int, limit: int) -> float:
    """WRU beyond the 1 counted for each slot write (a take and a removal per run), averaged over the slot
    item filling from 1 to ``limit`` slots: DynamoDB bills an update by the item's larger size."""
    empty, full = slot_item_bytes
    per_slot = (full - empty) / max(slots, 1)
    extra = sum(math.ceil((empty + held * per_slot) / 1024) - 1 for held in range(1, limit + 1)) / limit
    return 2 * extra
