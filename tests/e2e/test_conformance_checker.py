"""The conformance check itself (``conformance.py``) catches what it is meant to catch: fed hand-made
exchanges (no stack needed), it reports extra, missing, mistyped and wrongly-null fields, unknown events,
changed ``created_at``, ``usage`` while in progress, status timestamps and out-of-order events, and lets a
documented deviation through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistants_core.domain.models import Run, RunStep
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.schemas.runs import RunObject
from assistants_core.schemas.steps import RunStepObject
from tests.e2e.conformance import DEVIATIONS, Exchange, Report, build_report, summary_lines

NOW = 1_796_300_000
RUN_PATH = "/v1/threads/thread_1/runs/run_1"


def run_body(**changes: Any) -> dict[str, Any]:
    run = Run(
        id="run_1",
        owner="tenant",
        thread_id="thread_1",
        assistant_id="asst_1",
        created_at=NOW,
        status=RunStatus.QUEUED,
        model="m",
        instructions="Be brief.",
        expires_at=NOW + 600,
    )
    return {**RunObject.from_domain(run).model_dump(mode="json"), **changes}


def step_body(**changes: Any) -> dict[str, Any]:
    step = RunStep(
        id="step_1",
        owner="tenant",
        thread_id="thread_1",
        run_id="run_1",
        assistant_id="asst_1",
        created_at=NOW,
        type="message_creation",
        status=StepStatus.IN_PROGRESS,
        step_details={"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
    )
    return {**RunStepObject.from_domain(step).model_dump(mode="json"), **changes}


def json_exchange(seq: int, method: str, path: str, body: Any, status: int = 200) -> Exchange:
    return Exchange(seq, method, path, status, "application/json", bytearray(json.dumps(body).encode()), True)


def sse_exchange(seq: int, events: list[tuple[str, Any]], *, finished: bool = True) -> Exchange:
    frames = "".join(
        f"event: {name}\ndata: {data if isinstance(data, str) else json.dumps(data)}\n\n"
        for name, data in events
    )
    return Exchange(
        seq,
        "POST",
        "/v1/threads/thread_1/runs",
        200,
        "text/event-stream",
        bytearray(frames.encode()),
        finished,
    )


def found(report: Report) -> set[tuple[str, str, str]]:
    return {(v.schema, v.where, v.message) for v in report.violations}


def test_a_conforming_run_passes_and_counts_its_properties() -> None:
    report = build_report([json_exchange(1, "GET", RUN_PATH, run_body())])
    assert report.violations == []
    assert report.checked == {"RunObject": 1}
    assert ("RunObject", "expires_at") in report.covered
    assert ("RunObject", "usage") in report.covered
    assert "properties covered" in next(summary_lines(report))


def test_extra_missing_mistyped_and_wrongly_null_fields_are_violations() -> None:
    body = run_body(our_extension=1, model=None, temperature="hot")
    del body["instructions"]
    report = build_report([json_exchange(1, "GET", RUN_PATH, body)])
    messages = {(where, message.split(" ")[0]) for _, where, message in found(report)}
    assert ("$", "'instructions'") in messages  # required
    assert ("$.model", "None") in messages  # not nullable
    assert ("$.temperature", "'hot'") in messages  # wrong type
    assert any("our_extension" in message for _, _, message in found(report))  # not in the spec


def test_error_bodies_and_unknown_events_are_checked() -> None:
    error = {"error": {"message": "nope", "type": "invalid_request_error", "param": None}}
    report = build_report(
        [json_exchange(1, "GET", RUN_PATH, error, status=404), sse_exchange(2, [("thread.run.sparkled", {})])]
    )
    assert ("ErrorResponse", "$.error", "'code' is a required property") in found(report)
    assert ("event thread.run.sparkled", "$", "not an AssistantStreamEvent") in found(report)


def test_invariants_across_reads_and_events() -> None:
    in_progress = run_body(
        status="in_progress",
        started_at=NOW,
        usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    )
    report = build_report(
        [
            json_exchange(1, "GET", RUN_PATH, run_body()),
            json_exchange(2, "GET", RUN_PATH, {**in_progress, "created_at": NOW + 5}),
            json_exchange(3, "GET", RUN_PATH, run_body(status="completed", completed_at=None)),
        ]
    )
    rules = {(schema, where) for schema, where, _ in found(report)}
    assert ("invariant:stable", "run_1.created_at") in rules
    assert ("invariant:usage_null", "run_1.usage") in rules
    assert ("invariant:status_fields", "run_1.completed_at") in rules


def test_event_order_and_the_closing_done() -> None:
    step = step_body()
    message = {"id": "msg_1", "object": "thread.message.delta", "delta": {"content": []}}
    report = build_report(
        [
            sse_exchange(
                1,
                [
                    ("thread.run.created", run_body()),
                    ("thread.run.queued", run_body()),
                    ("thread.run.completed", run_body(status="completed", completed_at=NOW + 1)),
                    ("thread.run.step.created", step),
                    ("thread.message.delta", message),
                ],
            )
        ]
    )
    messages = {message for schema, _, message in found(report) if schema == "invariant:order"}
    assert "run went queued -> completed" in messages
    assert "a step or message event after the run's closing event" in messages
    assert any(message.startswith("a finished stream must end with one done") for message in messages)


def test_a_documented_deviation_is_reported_but_does_not_fail() -> None:
    empty = {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    report = build_report([json_exchange(1, "GET", f"{RUN_PATH}/steps", empty)])
    assert report.violations == []
    assert {violation.where for violation, _ in report.explained} == {"$.first_id", "$.last_id"}


def test_usage_object_in_a_completed_step_is_covered() -> None:
    step = step_body(
        status="completed",
        completed_at=NOW,
        usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    )
    report = build_report([json_exchange(1, "GET", f"{RUN_PATH}/steps/step_1", step)])
    assert report.violations == []
    assert ("RunStepCompletionUsage", "total_tokens") in report.covered


def test_the_readme_lists_every_deviation_the_checker_accepts() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## OpenAI conformance", 1)[1].split("\n## ", 1)[0]
    for deviation in DEVIATIONS:
        assert f"**{deviation.title}**" in section
