"""``/v1/threads/{thread_id}/runs`` and ``/v1/threads/runs`` (create thread and run)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import Response

from api.params import Include, Paging, Services, Tenant
from api.sse import LastEventId, event_stream_response
from assistants_core.schemas.common import ListResponse, list_response
from assistants_core.schemas.runs import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    RunObject,
)
from assistants_core.schemas.tool_outputs import SubmitToolOutputsRequest
from assistants_core.services.steps import includes_file_search_content

router = APIRouter(tags=["runs"])


# ``stream: true`` answers ``text/event-stream`` (api/sse.py) instead of the run object.
STREAMING: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


@router.post("/threads/runs", response_model=RunObject, responses=STREAMING)
def create_thread_and_run(
    body: CreateThreadAndRunRequest, tenant: Tenant, deps: Services
) -> RunObject | Response:
    if body.stream:
        return event_stream_response(deps.run_stream.create_thread_and_run(tenant, body))
    return RunObject.from_domain(deps.runs.create_thread_and_run(tenant, body))


@router.post("/threads/{thread_id}/runs", response_model=RunObject, responses=STREAMING)
def create_run(
    thread_id: str, body: CreateRunRequest, tenant: Tenant, deps: Services, include: Include
) -> RunObject | Response:
    """``include[]`` shapes the step events of the run's stream (the run object has no steps)."""
    content = includes_file_search_content(include)
    if body.stream:
        return event_stream_response(
            deps.run_stream.create_run(tenant, thread_id, body, include_content=content)
        )
    return RunObject.from_domain(deps.runs.create(tenant, thread_id, body))


@router.get("/threads/{thread_id}/runs/{run_id}/events", responses=STREAMING)
def stream_run_events(
    thread_id: str,
    run_id: str,
    *,
    tenant: Tenant,
    deps: Services,
    include: Include,
    last_event_id: LastEventId = 0,
) -> Response:
    """Our extension: (re)connect to a run's event stream; ``Last-Event-ID`` resumes after that event
    (``include[]`` as on run create, so a resumed stream keeps the shape it started with)."""
    content = includes_file_search_content(include)
    events = deps.run_stream.stream_after(tenant, thread_id, run_id, last_event_id, include_content=content)
    return event_stream_response(events)


@router.get("/threads/{thread_id}/runs")
def list_runs(thread_id: str, tenant: Tenant, deps: Services, query: Paging) -> ListResponse[RunObject]:
    page = deps.runs.list(
        tenant, thread_id, limit=query.limit, order=query.order, after=query.after, before=query.before
    )
    return list_response(page, RunObject.from_domain, lambda item: item.id, toward_before=query.toward_before)


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


@router.post(
    "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", response_model=RunObject, responses=STREAMING
)
def submit_tool_outputs(
    thread_id: str, run_id: str, body: SubmitToolOutputsRequest, tenant: Tenant, deps: Services
) -> RunObject | Response:
    if body.stream:
        return event_stream_response(deps.tool_outputs.submit_streaming(tenant, thread_id, run_id, body))
    return RunObject.from_domain(deps.tool_outputs.submit(tenant, thread_id, run_id, body))
