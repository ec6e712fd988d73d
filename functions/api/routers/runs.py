"""``/v1/threads/{thread_id}/runs`` and ``/v1/threads/runs`` (create thread and run)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.params import Paging, Services, Tenant
from assistants_core.schemas.common import ListResponse, list_response
from assistants_core.schemas.runs import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    RunObject,
)

router = APIRouter(tags=["runs"])


@router.post("/threads/runs")
def create_thread_and_run(body: CreateThreadAndRunRequest, tenant: Tenant, deps: Services) -> RunObject:
    return RunObject.from_domain(deps.runs.create_thread_and_run(tenant, body))


@router.post("/threads/{thread_id}/runs")
def create_run(thread_id: str, body: CreateRunRequest, tenant: Tenant, deps: Services) -> RunObject:
    return RunObject.from_domain(deps.runs.create(tenant, thread_id, body))


@router.get("/threads/{thread_id}/runs")
def list_runs(thread_id: str, tenant: Tenant, deps: Services, query: Paging) -> ListResponse[RunObject]:
    page = deps.runs.list(
        tenant, thread_id, limit=query.limit, order=query.order, after=query.after, before=query.before
    )
    return list_response(page, RunObject.from_domain, lambda item: item.id)


@router.get("/threads/{thread_id}/runs/{run_id}")
def retrieve_run(thread_id: str, run_id: str, tenant: Tenant, deps: Services) -> RunObject:
    return RunObject.from_domain(deps.runs.retrieve(tenant, thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}")
def modify_run(
    thread_id: str,
    run_id: str,
    tenant: Tenant,
    deps: Services,
    body: Annotated[ModifyRunRequest | None, Body()] = None,
) -> RunObject:
    request = body or ModifyRunRequest()
    return RunObject.from_domain(deps.runs.modify(tenant, thread_id, run_id, request))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
def cancel_run(thread_id: str, run_id: str, tenant: Tenant, deps: Services) -> RunObject:
    return RunObject.from_domain(deps.runs.cancel(tenant, thread_id, run_id))
