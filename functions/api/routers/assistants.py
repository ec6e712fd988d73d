"""``/v1/assistants``."""

from __future__ import annotations

from fastapi import APIRouter

from api.params import Paging, Services, Tenant
from assistants_core.schemas.assistants import (
    AssistantDeleted,
    AssistantObject,
    CreateAssistantRequest,
    ModifyAssistantRequest,
)
from assistants_core.schemas.common import ListResponse, list_response

router = APIRouter(tags=["assistants"])


@router.post("/assistants")
def create_assistant(body: CreateAssistantRequest, tenant: Tenant, deps: Services) -> AssistantObject:
    return AssistantObject.from_domain(deps.assistants.create(tenant, body))


@router.get("/assistants")
def list_assistants(tenant: Tenant, deps: Services, query: Paging) -> ListResponse[AssistantObject]:
    page = deps.assistants.list(
        tenant, limit=query.limit, order=query.order, after=query.after, before=query.before
    )
    return list_response(
        page, AssistantObject.from_domain, lambda item: item.id, toward_before=query.toward_before
    )


@router.get("/assistants/{assistant_id}")
def retrieve_assistant(assistant_id: str, tenant: Tenant, deps: Services) -> AssistantObject:
    return AssistantObject.from_domain(deps.assistants.retrieve(tenant, assistant_id))


@router.post("/assistants/{assistant_id}")
def modify_assistant(
    assistant_id: str, body: ModifyAssistantRequest, tenant: Tenant, deps: Services
) -> AssistantObject:
    return AssistantObject.from_domain(deps.assistants.modify(tenant, assistant_id, body))


@router.delete("/assistants/{assistant_id}")
def delete_assistant(assistant_id: str, tenant: Tenant, deps: Services) -> AssistantDeleted:
    deps.assistants.delete(tenant, assistant_id)
    return AssistantDeleted(id=assistant_id)
