"""``/v1/threads/{thread_id}/messages``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.params import MessagePaging, Services, Tenant
from assistants_core.schemas.common import ListResponse, list_response
from assistants_core.schemas.messages import (
    CreateMessageRequest,
    MessageDeleted,
    MessageObject,
    ModifyMessageRequest,
)

router = APIRouter(tags=["messages"])


@router.post("/threads/{thread_id}/messages")
def create_message(
    thread_id: str, body: CreateMessageRequest, tenant: Tenant, deps: Services
) -> MessageObject:
    return MessageObject.from_domain(deps.messages.create(tenant, thread_id, body))


@router.get("/threads/{thread_id}/messages")
def list_messages(
    thread_id: str, tenant: Tenant, deps: Services, query: MessagePaging
) -> ListResponse[MessageObject]:
    page = deps.messages.list(
        tenant,
        thread_id,
        limit=query.limit,
        order=query.order,
        after=query.after,
        before=query.before,
        run_id=query.run_id,
    )
    return list_response(
        page, MessageObject.from_domain, lambda item: item.id, toward_before=query.toward_before
    )


@router.get("/threads/{thread_id}/messages/{message_id}")
def retrieve_message(thread_id: str, message_id: str, tenant: Tenant, deps: Services) -> MessageObject:
    return MessageObject.from_domain(deps.messages.retrieve(tenant, thread_id, message_id))


@router.post("/threads/{thread_id}/messages/{message_id}")
def modify_message(
    thread_id: str,
    message_id: str,
    tenant: Tenant,
    deps: Services,
    body: Annotated[ModifyMessageRequest | None, Body()] = None,
) -> MessageObject:
    request = body or ModifyMessageRequest()
    return MessageObject.from_domain(deps.messages.modify(tenant, thread_id, message_id, request))


@router.delete("/threads/{thread_id}/messages/{message_id}")
def delete_message(thread_id: str, message_id: str, tenant: Tenant, deps: Services) -> MessageDeleted:
    deps.messages.delete(tenant, thread_id, message_id)
    return MessageDeleted(id=message_id)
