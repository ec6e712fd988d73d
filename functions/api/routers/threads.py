"""``/v1/threads``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.params import Services, Tenant
from assistants_core.schemas.threads import (
    CreateThreadRequest,
    ModifyThreadRequest,
    ThreadDeleted,
    ThreadObject,
)

router = APIRouter(tags=["threads"])


@router.post("/threads")
def create_thread(
    tenant: Tenant, deps: Services, body: Annotated[CreateThreadRequest | None, Body()] = None
) -> ThreadObject:
    return ThreadObject.from_domain(deps.threads.create(tenant, body or CreateThreadRequest()))


@router.get("/threads/{thread_id}")
def retrieve_thread(thread_id: str, tenant: Tenant, deps: Services) -> ThreadObject:
    return ThreadObject.from_domain(deps.threads.retrieve(tenant, thread_id))


@router.post("/threads/{thread_id}")
def modify_thread(
    thread_id: str, tenant: Tenant, deps: Services, body: Annotated[ModifyThreadRequest | None, Body()] = None
) -> ThreadObject:
    return ThreadObject.from_domain(deps.threads.modify(tenant, thread_id, body or ModifyThreadRequest()))


@router.delete("/threads/{thread_id}")
def delete_thread(thread_id: str, tenant: Tenant, deps: Services) -> ThreadDeleted:
    deps.threads.delete(tenant, thread_id)
    return ThreadDeleted(id=thread_id)
