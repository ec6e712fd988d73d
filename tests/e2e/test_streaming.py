"""``stream: true`` through the official ``openai`` SDK against the local stack (moto server + uvicorn) with a
scripted-engine worker: every event sequence is the one the SDK itself parsed off the wire."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import httpx
import pytest
from openai import AssistantEventHandler, OpenAI, Stream
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Run
from typing_extensions import override

from gpu_worker.engines.scripted import DEFAULT_FAILURE_MARKER, ScriptedEngine
from tests.e2e.conftest import LocalStackHandle
from tests.e2e.streaming_worker import running_worker, worker_settings

pytestmark = pytest.mark.e2e

RUN_START = ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
REPLY_START = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]
COMPLETED = [
    *RUN_START,
    *REPLY_START,
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
]
LONG_PROMPT = " ".join(f"word{index}" for index in range(300))


@pytest.fixture(scope="module")
def client(local_stack: LocalStackHandle) -> Iterator[OpenAI]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_stack.environment.items():
            patch.setenv(name, value)
        with running_worker(lambda: ScriptedEngine(token_delay_seconds=0.004), worker_settings()):
            yield OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


@pytest.fixture(scope="module")
def assistant_id(client: OpenAI) -> str:
    return client.beta.assistants.create(model="scripted", instructions="Echo.").id


def collapsed(names: list[str]) -> list[str]:
    """Runs of ``thread.message.delta`` become one (how many is the coalescing's business)."""
    return [name for name, _ in groupby(names)]


def delta_text(events: list[AssistantStreamEvent]) -> str:
    return "".join(
        part.text.value or ""
        for event in events
        if event.event == "thread.message.delta"
        for part in event.data.delta.content or []
        if part.type == "text" and part.text is not None
    )


def reply_text(client: OpenAI, thread_id: str) -> str:
    reply = client.beta.threads.messages.list(thread_id, order="desc").data[0]
    assert reply.role == "assistant" and reply.content[0].type == "text"
    return reply.content[0].text.value


class RecordingHandler(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.text: list[str] = []

    @override
    def on_event(self, event: AssistantStreamEvent) -> None:
        self.names.append(event.event)

    @override
    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text.append(delta.value or "")


def test_stream_helper_with_event_handler_until_done(client: OpenAI, assistant_id: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello streaming world"}])
    handler = RecordingHandler()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert collapsed(handler.names) == COMPLETED
    final_run = stream.get_final_run()
    assert final_run.status == "completed"
    assert final_run == client.beta.threads.runs.retrieve(final_run.id, thread_id=thread.id)
    (message,) = stream.get_final_messages()
    assert message.content[0].type == "text"
    assert "".join(handler.text) == message.content[0].text.value == reply_text(client, thread.id)
    assert message.content[0].text.value == "You said: hello streaming world"


def test_create_and_run_stream_starts_with_the_thread(client: OpenAI, assistant_id: str) -> None:
    stream = client.beta.threads.create_and_run(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": "a brand new thread"}]},
        stream=True,
    )
    events = list(stream)
    assert collapsed([event.event for event in events]) == ["thread.created", *COMPLETED]
    thread_id = events[0].data.id
    assert delta_text(events) == reply_text(client, thread_id) == "You said: a brand new thread"


def test_raw_create_stream_yields_sdk_event_objects(client: OpenAI, assistant_id: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "raw events please"}])
    events = list(client.beta.threads.runs.create(thread.id, assistant_id=assistant_id, stream=True))
    assert collapsed([event.event for event in events]) == COMPLETED
    by_name = {event.event: event.data for event in events}
    assert by_name["thread.run.created"].status == "queued"  # type: ignore[union-attr]
    assert by_name["thread.run.step.completed"].type == "message_creation"  # type: ignore[union-attr]
    assert by_name["thread.message.completed"].status == "completed"  # type: ignore[union-attr]
    completed = by_name["thread.run.completed"]
    assert isinstance(completed, Run) and completed.usage is not None and completed.usage.total_tokens > 0
    assert delta_text(events) == reply_text(client, thread.id)


def test_failed_run_stream_ends_failed(client: OpenAI, assistant_id: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": DEFAULT_FAILURE_MARKER}])
    events = list(client.beta.threads.runs.create(thread.id, assistant_id=assistant_id, stream=True))
    assert [event.event for event in events] == [
        *RUN_START,
        *REPLY_START,
        "thread.message.incomplete",
        "thread.run.step.failed",
        "thread.run.failed",
    ]
    failed = events[-1].data
    assert isinstance(failed, Run) and failed.last_error is not None
    assert failed.last_error.code == "server_error"


def test_cancel_mid_stream_ends_cancelled(client: OpenAI, assistant_id: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": LONG_PROMPT}])
    names: list[str] = []
    run_id = ""
    for event in client.beta.threads.runs.create(thread.id, assistant_id=assistant_id, stream=True):
        names.append(event.event)
        if event.event == "thread.run.created":
            run_id = event.data.id
        if event.event == "thread.message.delta" and names.count("thread.message.delta") == 1:
            assert client.beta.threads.runs.cancel(run_id, thread_id=thread.id).status == "cancelling"
    assert collapsed(names)[: len(RUN_START) + len(REPLY_START) + 1] == [
        *RUN_START,
        *REPLY_START,
        "thread.message.delta",
    ]
    # The API appends ``thread.run.cancelling`` right after its conditional write; on a loaded machine the
    # worker can end the run (and append ``cancelled``, which closes the stream) before that append lands.
    assert names[-1] == "thread.run.cancelled"
    assert names.count("thread.run.cancelling") <= 1 and names.count("thread.run.cancelled") == 1
    assert "thread.message.completed" not in names
    assert client.beta.threads.runs.retrieve(run_id, thread_id=thread.id).status == "cancelled"


def test_incomplete_run_stream_ends_incomplete(client: OpenAI, assistant_id: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": LONG_PROMPT}])
    stream = client.beta.threads.runs.create(
        thread.id, assistant_id=assistant_id, stream=True, max_completion_tokens=256
    )
    events = list(stream)
    assert collapsed([event.event for event in events]) == [
        *RUN_START,
        *REPLY_START,
        "thread.message.delta",
        "thread.message.incomplete",
        "thread.run.step.completed",
        "thread.run.incomplete",
    ]
    incomplete = events[-1].data
    assert isinstance(incomplete, Run) and incomplete.incomplete_details is not None
    assert incomplete.incomplete_details.reason == "max_completion_tokens"
    text = delta_text(events)
    assert len(text.split()) == 256 and text == reply_text(client, thread.id)
    # Coalesced: far fewer delta writes than the 256 tokens streamed.
    assert [event.event for event in events].count("thread.message.delta") < 256 // 4


def read_frames(response: httpx.Response, count: int) -> list[tuple[int, str]]:
    """The first ``count`` (id, event name) frames of an SSE response, then stop reading."""
    frames: list[tuple[int, str]] = []
    event_id, name = 0, ""
    for line in response.iter_lines():
        if line.startswith("id: "):
            event_id = int(line.removeprefix("id: "))
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line == "" and name:
            frames.append((event_id, name))
            event_id, name = 0, ""
            if len(frames) == count:
                break
    return frames


def stream_events(client: OpenAI, thread_id: str, run_id: str, last_event_id: int) -> list[str]:
    stream = client.get(
        f"/threads/{thread_id}/runs/{run_id}/events",
        cast_to=Run,
        stream=True,
        stream_cls=Stream[AssistantStreamEvent],
        options={"headers": {"Last-Event-ID": str(last_event_id)}},
    )
    return [event.event for event in stream]


def test_resume_after_disconnect_with_last_event_id(
    client: OpenAI, assistant_id: str, local_stack: LocalStackHandle
) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": LONG_PROMPT}])
    headers = {"Authorization": f"Bearer {local_stack.api_key}", "OpenAI-Beta": "assistants=v2"}
    body = {"assistant_id": assistant_id, "stream": True}
    with httpx.stream(
        "POST", f"{local_stack.base_url}/threads/{thread.id}/runs", json=body, headers=headers, timeout=30
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = read_frames(response, len(RUN_START) + len(REPLY_START) + 1)  # disconnect mid-reply
    assert [event_id for event_id, _ in seen] == list(range(1, len(seen) + 1))
    run_id = client.beta.threads.runs.list(thread.id).data[0].id

    resumed = stream_events(client, thread.id, run_id, last_event_id=seen[-1][0])
    everything = stream_events(client, thread.id, run_id, last_event_id=0)
    assert [name for _, name in seen] + resumed == everything
    assert collapsed(everything) == COMPLETED


def test_streaming_errors_before_the_stream_are_json(client: OpenAI, assistant_id: str) -> None:
    from openai import NotFoundError

    with pytest.raises(NotFoundError):
        list(client.beta.threads.runs.create("thread_missing", assistant_id=assistant_id, stream=True))
