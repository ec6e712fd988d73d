"""file_search with the real vLLM CPU engine and SmolLM2-135M through the SDK: a forced search (constrained
decoding makes even the 135M model emit the call), its results fed back, and a reply. The model's wording is
weak and not asserted; the structure is: a file_search step whose results point at the uploaded file and,
when the reply completes, file_citation annotations pointing at it (the model's own markers or, when it cites
nothing, the appended sources)."""

from __future__ import annotations

from openai import OpenAI

from tests.e2e.conftest import LocalStackHandle
from tests.e2e.test_file_search_runs import HANDBOOK
from tests.e2e.test_ingestion_sdk import ingestion_worker
from tests.e2e.test_real_engine import pytestmark as real_engine_marks
from tests.e2e.test_real_engine_streaming import real_worker

pytestmark = real_engine_marks
__all__ = ["ingestion_worker", "real_worker"]  # the fixtures


def test_real_engine_forced_file_search_cites_the_file(
    local_stack: LocalStackHandle, ingestion_worker: None, real_worker: None
) -> None:
    client = OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)
    file_id = client.files.create(file=("handbook.txt", HANDBOOK), purpose="assistants").id
    store = client.vector_stores.create(name="handbook", file_ids=[file_id])
    assistant = client.beta.assistants.create(
        model="SmolLM2-135M-Instruct",
        instructions="Answer from the handbook.",
        temperature=0.0,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What does the lighthouse keeper write down?"}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "file_search"},
        max_completion_tokens=512,
        poll_interval_ms=200,
    )
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    print(f"\nreal-engine file_search run {run.status}: steps {steps!r}\nreply {reply.content[0]!r}")
    assert run.status in {"completed", "incomplete"}, run.last_error
    search = steps[0]
    assert search.type == "tool_calls" and search.status == "completed"
    (call,) = search.step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "file_search"
    assert [result.file_id for result in call.file_search.results] == [file_id]  # type: ignore[union-attr]
    if run.status == "completed":
        part = reply.content[0]
        assert part.type == "text" and part.text.annotations
        assert {a.file_citation.file_id for a in part.text.annotations if a.type == "file_citation"} == {
            file_id
        }
