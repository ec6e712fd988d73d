"""file_search in runs through the official openai SDK against the local stack: a document uploaded and put in
a vector store on the assistant, a run created while it still ingests (the worker waits), a completed
``tool_calls`` step with a ``file_search`` call whose results point at the file, and a reply whose
``file_citation`` annotation points at it too; then the same run streamed, with the step's events and deltas.

The worker is the scripted engine wired from ``WorkerSettings`` as ``gpu_worker.main`` wires it (query
embedder: the numpy MiniLM from ``ASSISTANTS_EMBEDDING_MODEL_PATH``); ingestion is the production consumer
with the same model in numpy (``test_ingestion_sdk``'s worker)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

from gpu_worker.engines.scripted import ScriptedEngine, call_marker
from tests.e2e.conftest import LocalStackHandle
from tests.e2e.streaming_worker import running_worker, worker_settings
from tests.e2e.test_ingestion_sdk import ingestion_worker  # noqa: F401  # the module's ingestion worker

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ingestion_worker")]

HANDBOOK = (
    b"The harbour lighthouse keeper writes every passing ship into the logbook at dawn.\n\n"
    b"Fog horns sound twice a minute when visibility drops below one nautical mile."
)
QUESTION = "What does the keeper write down? " + call_marker("file_search", {"queries": ["keeper logbook"]})


@pytest.fixture(scope="module")
def client(local_stack: LocalStackHandle) -> Iterator[OpenAI]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_stack.environment.items():
            patch.setenv(name, value)
        with running_worker(ScriptedEngine, worker_settings(), worker_id="e2e-file-search"):
            yield OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


@pytest.fixture(scope="module")
def handbook(client: OpenAI) -> tuple[str, str]:
    """(assistant id, file id): the file in a store on the assistant; not waited for (the run waits)."""
    file_id = client.files.create(file=("handbook.txt", HANDBOOK), purpose="assistants").id
    store = client.vector_stores.create(name="handbook", file_ids=[file_id])
    assistant = client.beta.assistants.create(
        model="scripted",
        instructions="Answer from the handbook.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    return assistant.id, file_id


def assert_cites(text: Any, file_id: str) -> None:
    assert text.annotations, text.value
    for annotation in text.annotations:
        assert annotation.type == "file_citation"
        assert text.value[annotation.start_index : annotation.end_index] == annotation.text
    assert text.annotations[0].file_citation.file_id == file_id
    assert text.annotations[0].text == "【0:0†handbook.txt】"


def test_a_run_searches_the_assistants_store_and_cites_the_file(
    client: OpenAI, handbook: tuple[str, str]
) -> None:
    assistant_id, file_id = handbook
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    assert run.usage is not None and run.usage.completion_tokens > 0

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(step.type, step.status) for step in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    (call,) = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "file_search" and call.id.startswith("call")
    result = call.file_search.results[0]  # type: ignore[union-attr, index]
    assert (result.file_id, result.file_name) == (file_id, "handbook.txt")
    assert 0 < result.score <= 1

    (reply,) = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    part = reply.content[0]
    assert part.type == "text"
    assert_cites(part.text, file_id)


def test_a_streamed_search_run_shows_the_step_and_the_cited_reply(
    client: OpenAI, handbook: tuple[str, str]
) -> None:
    assistant_id, file_id = handbook
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
        events = list(stream)
    assert stream.get_final_run().status == "completed"
    (search,) = [step for step in stream.get_final_run_steps() if step.type == "tool_calls"]
    step_events = [event.event for event in events if getattr(event.data, "id", None) == search.id]
    assert step_events == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",  # the call
        "thread.run.step.delta",  # its results
        "thread.run.step.completed",
    ]
    delta = next(event.data for event in events if event.event == "thread.run.step.delta")
    (call_delta,) = delta.delta.step_details.tool_calls  # type: ignore[union-attr]
    assert (call_delta.type, call_delta.index) == ("file_search", 0)
    (call,) = search.step_details.tool_calls  # type: ignore[union-attr]  # the SDK's accumulation
    assert call.type == "file_search" and call.id == call_delta.id
    assert call.file_search.results[0].file_id == file_id  # type: ignore[union-attr, index]
    names = [event.event for event in events]
    assert names.index("thread.run.step.completed") < names.index("thread.message.created")
    assert names.count("thread.run.in_progress") == 1
    (message,) = stream.get_final_messages()
    part = message.content[0]
    assert part.type == "text"
    assert_cites(part.text, file_id)


CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def test_a_message_attachment_is_searched_and_its_result_content_read_with_include(client: OpenAI) -> None:
    """No store on the assistant: the user attaches the file to the message, which puts it in the thread's
    store (created on demand); the run waits for its ingestion, searches it, and cites it. The step's result
    chunks come back only with ``include``."""
    file_id = client.files.create(file=("harbour.txt", HANDBOOK), purpose="assistants").id
    assistant = client.beta.assistants.create(
        model="scripted", instructions="Answer from the files.", tools=[{"type": "file_search"}]
    )
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": QUESTION,
                "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    store_ids = thread.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    assert store_ids and len(store_ids) == 1
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error

    plain = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    (call,) = plain.step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "file_search"
    assert call.file_search.results[0].file_id == file_id  # type: ignore[union-attr, index]
    assert not call.file_search.results[0].content  # type: ignore[union-attr, index]
    included = client.beta.threads.runs.steps.retrieve(
        plain.id, thread_id=thread.id, run_id=run.id, include=[CONTENT]
    )
    (call,) = included.step_details.tool_calls  # type: ignore[union-attr]
    (chunk,) = call.file_search.results[0].content  # type: ignore[union-attr, index, misc]
    assert chunk.type == "text" and "logbook" in (chunk.text or "")
    listed = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc", include=[CONTENT])
    assert listed.data[0].model_dump() == included.model_dump()

    (reply,) = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    part = reply.content[0]
    assert part.type == "text" and part.text.annotations
    assert part.text.annotations[0].file_citation.file_id == file_id  # type: ignore[union-attr]
