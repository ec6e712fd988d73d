"""Function calling and structured output through the official ``openai`` SDK against the local stack
(moto server + uvicorn) with a scripted-engine worker: ``requires_action`` -> ``submit_tool_outputs`` ->
final message, the validation of submitted outputs, ``tool_choice`` / ``parallel_tool_calls``, cancelling a
waiting run, and ``response_format``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest
from openai import AssistantEventHandler, OpenAI
from openai.types.beta.threads import Run, Text, TextDelta
from openai.types.beta.threads.runs import ToolCall, ToolCallDelta

from gpu_worker.engines.scripted import ScriptedEngine, call_marker
from tests.e2e.conftest import LocalStackHandle
from tests.e2e.streaming_worker import running_worker, worker_settings

pytestmark = pytest.mark.e2e

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}
TWO_CALLS = call_marker("get_weather", {"city": "Paris"}) + " and " + call_marker("get_time", {"zone": "CET"})


@pytest.fixture(scope="module")
def client(local_stack: LocalStackHandle) -> Iterator[OpenAI]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_stack.environment.items():
            patch.setenv(name, value)
        with running_worker(ScriptedEngine, worker_settings(), worker_id="e2e-tools"):
            yield OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


@pytest.fixture(scope="module")
def assistant_id(client: OpenAI) -> str:
    return client.beta.assistants.create(
        model="scripted", instructions="Use tools.", tools=[WEATHER, TIME]
    ).id  # type: ignore[list-item]


def waiting_run(client: OpenAI, assistant_id: str, text: str, **options: Any) -> Run:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    return client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=20, **options
    )


def call_ids(run: Run) -> list[str]:
    assert run.status == "requires_action" and run.required_action is not None
    return [call.id for call in run.required_action.submit_tool_outputs.tool_calls]


def test_function_calling_round_trip(client: OpenAI, assistant_id: str) -> None:
    run = waiting_run(client, assistant_id, f"Weather and time please {TWO_CALLS}")
    assert run.status == "requires_action" and run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(call.type, call.function.name) for call in calls] == [
        ("function", "get_weather"),
        ("function", "get_time"),
    ]
    assert [json.loads(call.function.arguments) for call in calls] == [{"city": "Paris"}, {"zone": "CET"}]
    assert all(call.id.startswith("call_") for call in calls) and len({call.id for call in calls}) == 2
    (waiting_step,) = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
    assert (waiting_step.type, waiting_step.status) == ("tool_calls", "in_progress")
    assert client.beta.threads.messages.list(run.thread_id).data[0].role == "user"  # no reply yet
    with pytest.raises(openai.BadRequestError):  # the thread stays locked while the run waits
        client.beta.threads.messages.create(run.thread_id, role="user", content="meanwhile")

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[
            {"tool_call_id": calls[0].id, "output": "sunny"},
            {"tool_call_id": calls[1].id, "output": "noon"},
        ],
        poll_interval_ms=20,
    )
    assert done.status == "completed" and done.required_action is None
    assert done.usage is not None and done.usage.completion_tokens > 0
    reply = client.beta.threads.messages.list(run.thread_id, order="desc").data[0]
    assert reply.role == "assistant" and reply.run_id == run.id
    assert reply.content[0].type == "text" and reply.content[0].text.value == "Tool said: sunny noon"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [(step.type, step.status) for step in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    answered = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert [call.function.output for call in answered] == ["sunny", "noon"]  # type: ignore[union-attr]
    assert steps[1].step_details.message_creation.message_id == reply.id  # type: ignore[union-attr]
    client.beta.threads.messages.create(run.thread_id, role="user", content="thanks")  # unlocked


def test_submit_tool_outputs_rejects_bad_answers_and_writes_nothing(
    client: OpenAI, assistant_id: str
) -> None:
    run = waiting_run(client, assistant_id, TWO_CALLS)
    first, second = call_ids(run)
    unknown_id = [{"tool_call_id": first, "output": "a"}, {"tool_call_id": "call_x", "output": "b"}]
    missing_id = [{"tool_call_id": first, "output": "a"}]
    duplicate_id = [{"tool_call_id": first, "output": "a"}, {"tool_call_id": first, "output": "b"}]
    bad_answers = [
        (unknown_id, "tool_outputs[1].tool_call_id"),
        (missing_id, "tool_outputs"),
        (duplicate_id, "tool_outputs[1].tool_call_id"),
    ]
    for outputs, param in bad_answers:
        with pytest.raises(openai.BadRequestError) as rejected:
            client.beta.threads.runs.submit_tool_outputs(
                run.id, thread_id=run.thread_id, tool_outputs=outputs
            )  # type: ignore[arg-type]
        assert rejected.value.param == param
    still = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    assert still.status == "requires_action" and call_ids(still) == [first, second]

    answers = [{"tool_call_id": first, "output": "a"}, {"tool_call_id": second, "output": "b"}]
    client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=run.thread_id, tool_outputs=answers
    )  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as wrong_status:  # not waiting any more
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=answers)  # type: ignore[arg-type]
    assert "do not accept tool outputs" in wrong_status.value.message


def test_parallel_tool_calls_false_keeps_one_call(client: OpenAI, assistant_id: str) -> None:
    run = waiting_run(client, assistant_id, TWO_CALLS, parallel_tool_calls=False)
    assert run.required_action is not None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"


def test_tool_choice_none_offers_no_tools(client: OpenAI, assistant_id: str) -> None:
    run = waiting_run(client, assistant_id, TWO_CALLS, tool_choice="none")
    assert run.status == "completed" and run.required_action is None
    reply = client.beta.threads.messages.list(run.thread_id, order="desc").data[0]
    assert reply.content[0].type == "text" and "[[call:get_weather" in reply.content[0].text.value


def test_tool_choice_required_and_named_force_a_call(client: OpenAI, assistant_id: str) -> None:
    required = waiting_run(client, assistant_id, "no marker here", tool_choice="required")
    assert required.required_action is not None
    (call,) = required.required_action.submit_tool_outputs.tool_calls
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])  # type: ignore[index]

    named = waiting_run(
        client,
        assistant_id,
        "no marker here",
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert named.required_action is not None
    (call,) = named.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_time" and json.loads(call.function.arguments) == {
        "zone": "no marker here"
    }


def test_cancel_while_waiting_for_tool_outputs(client: OpenAI, assistant_id: str) -> None:
    run = waiting_run(client, assistant_id, TWO_CALLS)
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    (step,) = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
    assert step.status == "cancelled" and step.cancelled_at is not None
    client.beta.threads.messages.create(run.thread_id, role="user", content="unlocked")


def test_submit_tool_outputs_stream_continues_to_completion(client: OpenAI, assistant_id: str) -> None:
    run = waiting_run(client, assistant_id, call_marker("get_weather", {"city": "Oslo"}))
    (call_id,) = call_ids(run)
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id, thread_id=run.thread_id, tool_outputs=[{"tool_call_id": call_id, "output": "snow"}]
    ) as stream:
        stream.until_done()
    assert stream.get_final_run().status == "completed"
    (message,) = stream.get_final_messages()
    assert message.content[0].type == "text" and message.content[0].text.value == "Tool said: snow"


def test_requires_action_stream_closes_with_the_calls(client: OpenAI, assistant_id: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": TWO_CALLS}])
    events = list(client.beta.threads.runs.create(thread.id, assistant_id=assistant_id, stream=True))
    names = [event.event for event in events]
    created = names.index("thread.run.step.created")
    assert names[created + 1] == "thread.run.step.in_progress"  # OpenAI's order: created, in_progress
    assert set(names[created + 2 : -2]) == {"thread.run.step.delta"}  # the calls stream as step deltas
    assert names[-2:] == ["thread.run.step.delta", "thread.run.requires_action"]
    waiting = events[-1].data
    assert isinstance(waiting, Run) and len(call_ids(waiting)) == 2


def test_response_format_json_object_and_json_schema(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1},
            "ok": {"type": "boolean"},
        },
        "required": ["city", "days", "ok"],
        "additionalProperties": False,
    }
    formats: list[Any] = [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "forecast", "schema": schema, "strict": True}},
    ]
    for response_format in formats:
        assistant = client.beta.assistants.create(model="scripted", response_format=response_format)
        run = waiting_run(client, assistant.id, "plan a trip")
        assert run.status == "completed"
        reply = client.beta.threads.messages.list(run.thread_id, order="desc").data[0]
        assert reply.content[0].type == "text"
        value = json.loads(reply.content[0].text.value)
        assert isinstance(value, dict)
        if response_format["type"] == "json_schema":
            jsonschema.validate(value, schema)


def test_malformed_tool_and_response_schemas_are_400_with_param(client: OpenAI, assistant_id: str) -> None:
    thread = client.beta.threads.create()
    bad_requests: dict[str, dict[str, Any]] = {
        "tools[0].function.parameters": {
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}]
        },
        "response_format.json_schema.schema": {
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}
        },
        "response_format.json_schema.name": {
            "response_format": {"type": "json_schema", "json_schema": {"name": "bad name!", "schema": {}}}
        },
        "tool_choice": {"tool_choice": {"type": "function", "function": {"name": "missing"}}},
    }
    for param, options in bad_requests.items():
        with pytest.raises(openai.BadRequestError) as rejected:
            client.beta.threads.runs.create(thread.id, assistant_id=assistant_id, **options)
        assert rejected.value.param == param
    assert client.beta.threads.runs.list(thread.id).data == []
    with pytest.raises(openai.BadRequestError) as rejected_assistant:
        client.beta.assistants.create(
            model="scripted",
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": 1}}}],
        )
    assert rejected_assistant.value.param == "tools[0].function.parameters"


class CallRecorder(AssistantEventHandler):
    """Accumulates what the SDK's handlers see: text deltas and tool calls (created, then deltas)."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.created: list[tuple[str | None, str | None]] = []
        self.arguments: dict[int, str] = {}
        self.done: list[ToolCall] = []

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.text += delta.value or ""

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        assert tool_call.type == "function"
        self.created.append((tool_call.id, tool_call.function.name))

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        assert delta.type == "function" and delta.function is not None
        self.arguments[delta.index] = self.arguments.get(delta.index, "") + (delta.function.arguments or "")

    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        self.done.append(tool_call)


def required(run: Run) -> list[tuple[str, str, str]]:
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    return [(call.id, call.function.name, call.function.arguments) for call in calls]


def test_sdk_event_handler_accumulates_streamed_text_and_calls(client: OpenAI, assistant_id: str) -> None:
    text = "[[say:Checking both.]] " + TWO_CALLS
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    recorder = CallRecorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant_id, event_handler=recorder
    ) as stream:
        stream.until_done()
    waiting = stream.get_final_run()
    assert waiting.status == "requires_action"
    expected = required(waiting)
    assert recorder.text == "Checking both.\n"  # no fragment of a call as text
    assert [(call_id, name) for call_id, name, _ in expected] == recorder.created
    # the SDK's own accumulation (snapshots) and the deltas both add up to required_action's arguments
    assert [(c.id, c.function.name, c.function.arguments) for c in recorder.done] == expected
    assert [recorder.arguments[i] for i in range(len(expected))] == [args for _, _, args in expected]
    (step,) = [s for s in stream.get_final_run_steps() if s.type == "tool_calls"]
    assert step.step_details.type == "tool_calls"
    streamed = [(c.id, c.function.name, c.function.arguments) for c in step.step_details.tool_calls]  # type: ignore[union-attr]
    assert streamed == expected

    # The continuation streams too; a forced call streams its arguments.
    outputs = [{"tool_call_id": call_id, "output": "fine"} for call_id, _, _ in expected]
    continuation = CallRecorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=waiting.id, thread_id=thread.id, tool_outputs=outputs, event_handler=continuation
    ) as stream:
        stream.until_done()
    assert stream.get_final_run().status == "completed"
    assert continuation.text == "Tool said: fine fine" and continuation.created == []

    forced_thread = client.beta.threads.create(messages=[{"role": "user", "content": "Paris"}])
    forced = CallRecorder()
    with client.beta.threads.runs.stream(
        thread_id=forced_thread.id, assistant_id=assistant_id, tool_choice="required", event_handler=forced
    ) as stream:
        stream.until_done()
    forced_run = stream.get_final_run()
    assert forced.text == ""
    assert [(c.id, c.function.name, c.function.arguments) for c in forced.done] == required(forced_run)
