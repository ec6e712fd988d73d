"""Run streams send ``thread.run.step.*`` events shaped by the same function as the steps endpoints: a
file_search call's private ``queries`` never leave the API, and results carry ``content`` only for a run
created with ``include[]`` (FILE_SEARCH_CONTRACT.md item 3)."""

from __future__ import annotations

import asyncio
from typing import Any

from assistants_core.domain.models import Run, RunStep
from assistants_core.domain.run_events import RunEvent
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.schemas.runs import CreateRunRequest
from assistants_core.schemas.step_details import step_event_data_to_wire
from assistants_core.services.run_events import step_event
from assistants_core.services.run_stream import RunStreamService
from tests.contract.factories import make_run
from tests.unit.services.test_run_stream import THREAD, FakeRuns, FakeTime, ListLog, stream_service

RESULT = {"file_id": "file-1", "file_name": "x.txt", "score": 0.5, "content": [{"type": "text", "text": "c"}]}
CALL = {
    "id": "call_1",
    "type": "file_search",
    "file_search": {
        "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
        "results": [RESULT],
        "queries": ["q"],
    },
}
STEP = {
    "id": "step_1",
    "object": "thread.run.step",
    "step_details": {"type": "tool_calls", "tool_calls": [CALL]},
}
DELTA = {
    "id": "step_1",
    "object": "thread.run.step.delta",
    "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{"index": 0, **CALL}]}},
}


class CreatingRuns(FakeRuns):
    def create(self, owner: str, thread_id: str, request: CreateRunRequest) -> Run:
        return self.run


def streamed_data(include_content: bool) -> dict[str, dict[str, Any]]:
    runs = CreatingRuns(make_run(THREAD, status=RunStatus.COMPLETED, stream_log_seq=0))
    log = ListLog([])
    for name, data in (
        ("thread.run.step.created", STEP),
        ("thread.run.step.delta", DELTA),
        ("thread.run.completed", {"id": runs.run.id}),
    ):
        log.events.append(RunEvent(len(log.events) + 1, name, data, 0))
    service: RunStreamService = stream_service(runs, log, FakeTime())

    async def collect() -> dict[str, dict[str, Any]]:
        request = CreateRunRequest(assistant_id="asst_1", stream=True)
        created = service.create_run(THREAD.owner, THREAD.id, request, include_content=include_content)
        resumed = service.stream_after(
            THREAD.owner, THREAD.id, runs.run.id, 0, include_content=include_content
        )
        sent = [(event.event, event.data) async for event in created]
        assert sent == [(event.event, event.data) async for event in resumed]  # a reconnect keeps the shape
        return dict(sent)

    return asyncio.run(collect())


def search_of(data: dict[str, Any]) -> dict[str, Any]:
    details = data["step_details"] if "step_details" in data else data["delta"]["step_details"]
    search: dict[str, Any] = details["tool_calls"][0]["file_search"]
    return search


def test_step_events_never_carry_queries_and_carry_content_only_on_include() -> None:
    plain = streamed_data(include_content=False)
    included = streamed_data(include_content=True)
    for name in ("thread.run.step.created", "thread.run.step.delta"):
        assert "queries" not in search_of(plain[name]) and "queries" not in search_of(included[name])
        assert search_of(plain[name])["results"] == [
            {"file_id": "file-1", "file_name": "x.txt", "score": 0.5}
        ]
        assert search_of(included[name])["results"] == [RESULT]
    assert plain["thread.run.completed"] == {"id": plain["thread.run.completed"]["id"]}
    assert "queries" in CALL["file_search"]  # the stored event is not changed in place


def test_steps_without_file_search_pass_through_unchanged() -> None:
    function_step = {"step_details": {"type": "tool_calls", "tool_calls": [{"id": "c", "type": "function"}]}}
    message_step = {"step_details": {"type": "message_creation", "message_creation": {"message_id": "m"}}}
    for data in (function_step, message_step, {"id": "s", "delta": {}}):
        assert step_event_data_to_wire(data) == data


def test_the_event_log_keeps_result_content_for_streams_that_include_it() -> None:
    run = make_run(THREAD)
    step = RunStep(
        id="step_1",
        owner=THREAD.owner,
        thread_id=THREAD.id,
        run_id=run.id,
        assistant_id=run.assistant_id,
        created_at=run.created_at,
        type="tool_calls",
        status=StepStatus.COMPLETED,
        step_details={"type": "tool_calls", "tool_calls": [CALL]},
        completed_at=run.created_at,
    )
    logged = search_of(step_event(step, "completed", 1).data)
    assert logged["results"] == [RESULT] and "queries" not in logged
