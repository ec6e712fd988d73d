"""Shared FastAPI parameter types of the routers: the caller's tenant, the services, list query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from api.auth import current_tenant
from api.deps import ApiDependencies, services

Tenant = Annotated[str, Depends(current_tenant)]
Services = Annotated[ApiDependencies, Depends(services)]


class ListQuery(BaseModel):
    """``limit``, ``order``, ``after``, ``before`` of every list endpoint (checked by the services)."""

    limit: int = 20
    order: str = "desc"
    after: str | None = None
    before: str | None = None

    @property
    def toward_before(self) -> bool:
        """Whether the page is read backwards from ``before`` (no ``after``)."""
        return self.before is not None and self.after is None


class MessageListQuery(ListQuery):
    run_id: str | None = None


Paging = Annotated[ListQuery, Query()]
MessagePaging = Annotated[MessageListQuery, Query()]


def include_values(request: Request) -> list[str]:
    """``include[]`` as the SDKs send it (brackets), or plain repeated ``include``."""
    return request.query_params.getlist("include[]") + request.query_params.getlist("include")


Include = Annotated[list[str], Depends(include_values)]
