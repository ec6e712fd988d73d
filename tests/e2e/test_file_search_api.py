"""The API half of file_search through the official openai SDK against the local stack (with the ingestion
consumer): message attachments go into the thread's vector store and get ingested, the ``vector_stores``
helper, the 400/404s for what the server does not run or cannot find, and a worker-shaped ``file_search``
step and cited reply (FILE_SEARCH_CONTRACT.md items 3 and 4, written here as the worker writes them) read
back through the SDK, with result chunks only on ``include``."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import openai
import pytest
from openai import OpenAI

from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunEventLog,
    DynamoRunRepository,
    DynamoTable,
)
from assistants_core.adapters.dynamodb.expressions import Expression, absent_condition
from assistants_core.adapters.dynamodb.items import step_to_item
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.domain import ids
from assistants_core.domain.models import Message, RunStep
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.schemas.step_details import FILE_SEARCH_CONTENT
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.run_events import step_delta_event, step_event
from tests.e2e.conftest import LocalStackHandle
from tests.e2e.test_ingestion_sdk import ingestion_worker  # noqa: F401  # the module's ingestion consumer

pytestmark = pytest.mark.e2e

SEARCH = {"type": "file_search"}
TENANT = "tenant-one"  # the local stack's API_KEY


@pytest.fixture
def client(local_stack: LocalStackHandle, ingestion_worker: None) -> OpenAI:  # noqa: F811
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


@pytest.fixture
def table(local_stack: LocalStackHandle) -> DynamoTable:
    clients = local_stack.clients
    bucket = local_stack.resources.bucket_name
    return DynamoTable(clients.dynamodb, local_stack.resources.table_name, S3BodyStore(clients.s3, bucket))


def upload(client: OpenAI, name: str, text: str) -> str:
    return client.files.create(file=(name, text.encode()), purpose="assistants").id


def stored_call(file_id: str) -> dict[str, Any]:
    """A file_search call as the worker stores it (FILE_SEARCH_CONTRACT.md item 3)."""
    return {
        "id": "call_fs1",
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
            "results": [
                {
                    "file_id": file_id,
                    "file_name": "facts.txt",
                    "score": 0.83,
                    "content": [{"type": "text", "text": "The sky is blue."}],
                }
            ],
            "queries": ["sky colour"],
        },
    }


def file_search_step(
    run_id: str, thread_id: str, assistant_id: str, file_id: str, *, created_at: int
) -> RunStep:
    return RunStep(
        id=ids.derived_id(ids.STEP, run_id, "fs"),
        owner=TENANT,
        thread_id=thread_id,
        run_id=run_id,
        assistant_id=assistant_id,
        created_at=created_at,
        type="tool_calls",
        status=StepStatus.COMPLETED,
        step_details={"type": "tool_calls", "tool_calls": [stored_call(file_id)]},
        completed_at=created_at,
    )


def test_attachments_fill_the_threads_store_and_are_ingested(client: OpenAI) -> None:
    manual = upload(client, "manual.txt", "Lighthouse keepers trim the wick every evening at dusk.")
    notes = upload(client, "notes.md", "# Notes\n\nThe lens is polished on Sundays.")
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "When is the wick trimmed?",
                "attachments": [{"file_id": manual, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    assert thread.tool_resources is not None and thread.tool_resources.file_search is not None
    (store_id,) = thread.tool_resources.file_search.vector_store_ids or []
    done = client.vector_stores.files.poll(manual, vector_store_id=store_id, poll_interval_ms=50)
    assert (done.status, done.last_error) == ("completed", None)

    message = client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="And the lens?",
        attachments=[{"file_id": notes, "tools": [{"type": "file_search"}]}],
    )
    assert message.attachments is not None and message.attachments[0].file_id == notes
    retrieved = client.beta.threads.retrieve(thread.id)
    assert retrieved.tool_resources is not None and retrieved.tool_resources.file_search is not None
    assert retrieved.tool_resources.file_search.vector_store_ids == [store_id]
    assert client.vector_stores.files.poll(notes, vector_store_id=store_id, poll_interval_ms=50).status == (
        "completed"
    )
    store = client.vector_stores.retrieve(store_id)
    assert (store.file_counts.completed, store.file_counts.total) == (2, 2)
    assert store.expires_after is not None and store.expires_after.days == 7
    hits = client.vector_stores.search(store_id, query="when is the wick trimmed")
    assert manual in {hit.file_id for hit in hits}


def test_the_vector_stores_helper_through_the_sdk(client: OpenAI) -> None:
    manual = upload(client, "helper.txt", "The keeper logs the weather every hour.")
    assistant = client.beta.assistants.create(
        model="scripted",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [manual], "metadata": {"k": "v"}}]}},
    )
    assert assistant.tool_resources is not None and assistant.tool_resources.file_search is not None
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids or []
    assert client.vector_stores.files.poll(manual, vector_store_id=store_id, poll_interval_ms=50).status == (
        "completed"
    )
    assert client.vector_stores.retrieve(store_id).metadata == {"k": "v"}


def test_what_the_server_does_not_run_or_cannot_find_is_refused(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.assistants.create(
            model="scripted", tools=[{"type": "file_search"}, {"type": "code_interpreter"}]
        )
    assert (refused.value.param, refused.value.code) == ("tools[1]", "unsupported_tool")
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content=[
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        )
    assert refused.value.param == "content[1]"
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="x",
            attachments=[{"file_id": "file-x", "tools": [{"type": "code_interpreter"}]}],
        )
    assert refused.value.param == "attachments[0].tools[0]"
    with pytest.raises(openai.NotFoundError) as missing:
        client.beta.assistants.create(
            model="scripted", tool_resources={"file_search": {"vector_store_ids": ["vs_missing"]}}
        )
    assert missing.value.param == "tool_resources.file_search.vector_store_ids[0]"
    with pytest.raises(openai.NotFoundError) as missing:
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="x",
            attachments=[{"file_id": "file-missing", "tools": [{"type": "file_search"}]}],
        )
    assert missing.value.param == "attachments[0].file_id"
    assert client.beta.threads.messages.list(thread.id).data == []
    assert client.beta.threads.retrieve(thread.id).tool_resources is None or not (
        client.beta.threads.retrieve(thread.id).tool_resources.file_search  # type: ignore[union-attr]
    )


def test_a_file_search_step_and_its_citation_read_back_through_the_sdk(
    client: OpenAI, table: DynamoTable
) -> None:
    file_id = upload(client, "facts.txt", "The sky is blue.")
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What colour is the sky?"}])
    run = client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, tool_choice={"type": "file_search"}
    )
    assert run.tool_choice is not None and run.tool_choice.type == "file_search"  # type: ignore[union-attr]
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)  # no worker here: free the thread
    # What the worker writes (FILE_SEARCH_CONTRACT.md items 3 and 4).
    step = file_search_step(run.id, thread.id, assistant.id, file_id, created_at=run.created_at)
    expression = Expression()
    table.put(step_to_item(step), expression, absent_condition(expression))
    marker = "【0:0†facts.txt】"
    value = f"Blue{marker}."
    start = value.index(marker)
    DynamoMessageRepository(table).add_message(
        Message(
            id=ids.derived_id(ids.MESSAGE, run.id),
            owner=TENANT,
            thread_id=thread.id,
            created_at=run.created_at,
            role="assistant",
            assistant_id=assistant.id,
            run_id=run.id,
            content=[
                {
                    "type": "text",
                    "text": {
                        "value": value,
                        "annotations": [
                            {
                                "type": "file_citation",
                                "text": marker,
                                "start_index": start,
                                "end_index": start + len(marker),
                                "file_citation": {"file_id": file_id},
                            }
                        ],
                    },
                }
            ],
            completed_at=run.created_at,
        )
    )

    (plain,) = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    call = plain.step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.type == "file_search"
    (result,) = call.file_search.results or []  # type: ignore[union-attr]
    assert (result.file_id, result.file_name, result.content) == (file_id, "facts.txt", None)
    assert "queries" not in plain.model_dump_json()
    for included in (
        client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[FILE_SEARCH_CONTENT]).data[
            0
        ],
        client.beta.threads.runs.steps.retrieve(
            step.id, thread_id=thread.id, run_id=run.id, include=[FILE_SEARCH_CONTENT]
        ),
    ):
        (result,) = included.step_details.tool_calls[0].file_search.results or []  # type: ignore[union-attr]
        assert result.content is not None and result.content[0].text == "The sky is blue."
        assert "queries" not in included.model_dump_json()
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=["unknown"])  # type: ignore[list-item]
    assert refused.value.param == "include"

    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    text = reply.content[0].text  # type: ignore[union-attr]
    citation = text.annotations[0]
    assert citation.type == "file_citation"
    assert citation.file_citation.file_id == file_id  # type: ignore[union-attr]
    assert text.value[citation.start_index : citation.end_index] == citation.text == marker


def test_a_streamed_run_with_include_gets_result_content_in_its_step_events(
    client: OpenAI, table: DynamoTable
) -> None:
    """The step events a worker logs (here claimed, streamed and finished as the worker does) reach a stream
    created with ``include``, content included, queries not."""
    file_id = upload(client, "facts.txt", "The sky is blue.")
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What colour is the sky?"}])
    log = DynamoRunEventLog(table)
    runs = with_run_events(DynamoRunRepository(table), log)  # the worker's evented repository
    seen: list[Any] = []
    stream = client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, stream=True, include=[FILE_SEARCH_CONTENT]
    )
    for event in stream:
        seen.append(event)
        if event.event != "thread.run.queued":
            continue
        claimed = runs.claim_run(thread.id, event.data.id, worker_id="e2e", lease_seconds=60, now=time.time())
        assert claimed is not None
        step = file_search_step(claimed.id, thread.id, assistant.id, file_id, created_at=claimed.created_at)
        opened = replace(
            step,
            status=StepStatus.IN_PROGRESS,
            completed_at=None,
            step_details={"type": "tool_calls", "tool_calls": []},
        )
        call = {"index": 0, **stored_call(file_id)}
        log.append(  # what the worker streams while the call runs
            thread.id,
            claimed.id,
            [
                step_event(opened, "created", claimed.attempts),
                step_event(opened, "in_progress", claimed.attempts),
                step_delta_event(
                    step.id, {"step_details": {"type": "tool_calls", "tool_calls": [call]}}, claimed.attempts
                ),
            ],
        )
        runs.finish_run(
            claimed,
            RunStatus.COMPLETED,
            fields={"completed_at": int(time.time())},
            worker_id="e2e",
            message=None,
            steps=[step],
        )
    names = [event.event for event in seen]
    assert names[-1] == "thread.run.completed"
    delta = next(event.data for event in seen if event.event == "thread.run.step.delta")
    search = delta.delta.step_details.tool_calls[0].file_search  # type: ignore[union-attr]
    assert "queries" not in search and search["results"][0]["content"][0]["text"] == "The sky is blue."
    completed = next(event.data for event in seen if event.event == "thread.run.step.completed")
    (result,) = completed.step_details.tool_calls[0].file_search.results or []  # type: ignore[union-attr]
    assert result.content is not None and result.content[0].text == "The sky is blue."
    assert "queries" not in completed.model_dump_json()
