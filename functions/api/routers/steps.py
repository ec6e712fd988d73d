"""``/v1/threads/{thread_id}/runs/{run_id}/steps``."""

from __future__ import annotations

from fastapi import APIRouter

from api.params import Include, Paging, Services, Tenant
from assistants_core.schemas.common import ListResponse, list_response
from assistants_core.schemas.steps import RunStepObject
from assistants_core.services.steps import includes_file_search_content

router = APIRouter(tags=["steps"])


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
def list_steps(
    thread_id: str, run_id: str, *, tenant: Tenant, deps: Services, query: Paging, include: Include
) -> ListResponse[RunStepObject]:
    content = includes_file_search_content(include)
    page = deps.steps.list(
        tenant,
        thread_id,
        run_id,
        limit=query.limit,
        order=query.order,
        after=query.after,
        before=query.before,
    )
    return list_response(
        page,
        lambda step: RunStepObject.from_domain(step, include_content=content),
        lambda item: item.id,
        toward_before=query.toward_before,
    )


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
def retrieve_step(
    thread_id: str, run_id: str, step_id: str, *, tenant: Tenant, deps: Services, include: Include
) -> RunStepObject:
    content = includes_file_search_content(include)
    step = deps.steps.retrieve(tenant, thread_id, run_id, step_id)
    return RunStepObject.from_domain(step, include_content=content)
