"""Structured output and forced function calls with the real vLLM CPU engine and SmolLM2-135M: the SDK
creates the runs through the local stack, the worker (wired as ``gpu_worker.main`` wires it) generates them.
Structured output constrains decoding, so even a 135M model produces JSON of the requested shape."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from openai import OpenAI

from tests.e2e.conftest import LocalStackHandle
from tests.e2e.test_real_engine import pytestmark as real_engine_marks
from tests.e2e.test_real_engine_streaming import real_worker
from tests.e2e.test_tool_calls import CallRecorder, required

pytestmark = real_engine_marks
__all__ = ["real_worker"]  # the fixture: a worker with the real engine on the local stack's queue

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}},
    "required": ["city"],
    "additionalProperties": False,
}


def test_real_engine_json_schema_and_forced_tool_call(
    local_stack: LocalStackHandle, real_worker: None
) -> None:
    client = OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)
    assistant = client.beta.assistants.create(model="SmolLM2-135M-Instruct", temperature=0.0)
    runs = client.beta.threads.runs
    structured_thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Name a large city and its population as JSON."}]
    )
    structured = runs.create(
        structured_thread.id,
        assistant_id=assistant.id,
        max_completion_tokens=256,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY_SCHEMA}},
    )
    tool_thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the weather in Paris?"}]
    )
    tool_run = runs.create(
        tool_thread.id,
        assistant_id=assistant.id,
        max_completion_tokens=256,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_PARAMETERS}}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )

    done = runs.poll(structured.id, thread_id=structured_thread.id, poll_interval_ms=200)
    waiting = runs.poll(tool_run.id, thread_id=tool_thread.id, poll_interval_ms=200)
    assert done.status == "completed", done.last_error
    reply = client.beta.threads.messages.list(structured_thread.id, order="desc").data[0]
    assert reply.content[0].type == "text"
    jsonschema.validate(json.loads(reply.content[0].text.value), CITY_SCHEMA)

    assert waiting.status == "requires_action", waiting.last_error
    assert waiting.required_action is not None
    (call,) = waiting.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMETERS)


def stream_weather_turn(
    client: OpenAI, assistant_id: str, question: str, max_completion_tokens: int, **options: Any
) -> tuple[CallRecorder, Any]:
    """One streamed run offering ``get_weather``: the SDK handler's record and the finished stream."""
    thread = client.beta.threads.create(messages=[{"role": "user", "content": question}])
    recorder = CallRecorder()
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_PARAMETERS}}
    with client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=assistant_id,
        tools=[weather],  # type: ignore[list-item]
        max_completion_tokens=max_completion_tokens,
        event_handler=recorder,
        **options,
    ) as stream:
        stream.until_done()
    return recorder, stream


def test_real_engine_tool_turns_stream_what_is_stored(
    local_stack: LocalStackHandle, real_worker: None
) -> None:
    """Issue 14 on the real engine: a forced call streams as step deltas that add up to ``required_action``;
    a turn that only offers the function streams whatever the model does (text or a call) as it is stored."""
    client = OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)
    assistant = client.beta.assistants.create(model="SmolLM2-135M-Instruct", temperature=0.0)

    named = {"type": "function", "function": {"name": "get_weather"}}
    forced, stream = stream_weather_turn(
        client, assistant.id, "What is the weather in Paris?", 256, tool_choice=named
    )  # the constrained call ends by itself after a few tokens
    waiting = stream.get_final_run()
    assert waiting.status == "requires_action", waiting.last_error
    assert [(c.id, c.function.name, c.function.arguments) for c in forced.done] == required(waiting)
    assert forced.text == "" and forced.arguments  # the arguments arrived as deltas

    question = "Use the get_weather tool for Paris, then say hello."
    offered, stream = stream_weather_turn(client, assistant.id, question, 256)  # the spec's minimum
    final = stream.get_final_run()
    print(
        f"\noffered-tools turn ended {final.status}; streamed text {offered.text!r}; calls {offered.created}"
    )
    if final.status == "requires_action":
        assert [(c.id, c.function.name, c.function.arguments) for c in offered.done] == required(final)
        return
    assert final.status in {"completed", "incomplete"}, final.last_error
    stored = client.beta.threads.messages.list(final.thread_id, order="desc").data[0]
    (streamed,) = [m for m in stream.get_final_messages() if m.id == stored.id]
    assert stored.content[0].type == "text" and streamed.content[0].type == "text"
    assert streamed.content[0].text.value == stored.content[0].text.value
