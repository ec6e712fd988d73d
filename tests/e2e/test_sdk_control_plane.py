"""The official ``openai`` SDK, unchanged, against the local stack over HTTP (runs stay queued: no worker)."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(local_stack: LocalStackHandle) -> OpenAI:
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


def test_assistant_crud(client: OpenAI) -> None:
    created = client.beta.assistants.create(
        model="SmolLM2-135M-Instruct",
        name="Helper",
        instructions="Answer briefly.",
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        metadata={"team": "e2e"},
        temperature=0.3,
        response_format={"type": "json_object"},
    )
    assert created.id.startswith("asst_")
    assert created.object == "assistant"
    assert created.tools[0].type == "function"
    assert client.beta.assistants.retrieve(created.id).name == "Helper"
    updated = client.beta.assistants.update(created.id, name="Renamed", metadata={"team": "core"})
    assert (updated.name, updated.metadata, updated.instructions) == (
        "Renamed",
        {"team": "core"},
        "Answer briefly.",
    )
    assert created.id in [assistant.id for assistant in client.beta.assistants.list(limit=100)]
    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "assistant.deleted")
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(created.id)


def test_thread_and_message_crud_with_content_parts(client: OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "first"}, {"role": "assistant", "content": "second"}],
        metadata={"topic": "e2e"},
    )
    assert thread.object == "thread"
    assert client.beta.threads.retrieve(thread.id).metadata == {"topic": "e2e"}
    assert client.beta.threads.update(thread.id, metadata={"topic": "changed"}).metadata == {
        "topic": "changed"
    }
    message = client.beta.threads.messages.create(
        thread.id,
        role="user",
        content=[
            {"type": "text", "text": "look at this"},
            {"type": "text", "text": "(images are refused: test_file_search_api.py)"},
        ],
        metadata={"n": "3"},
    )
    assert [part.type for part in message.content] == ["text", "text"]
    assert message.content[0].text.value == "look at this"  # type: ignore[union-attr]
    fetched = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert fetched.content == message.content
    updated = client.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"n": "4"})
    assert updated.metadata == {"n": "4"}
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, order="asc")]  # type: ignore[union-attr]
    assert texts == ["first", "second", "look at this"]
    assert client.beta.threads.messages.delete(message.id, thread_id=thread.id).deleted
    assert len(client.beta.threads.messages.list(thread.id).data) == 2
    assert client.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


def test_auto_pagination_in_both_directions(client: OpenAI) -> None:
    thread = client.beta.threads.create()
    created = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"m{index}").id
        for index in range(7)
    ]
    ascending = [message.id for message in client.beta.threads.messages.list(thread.id, limit=2, order="asc")]
    descending = [
        message.id for message in client.beta.threads.messages.list(thread.id, limit=2, order="desc")
    ]
    assert ascending == created
    assert descending == list(reversed(created))
    first_page = client.beta.threads.messages.list(thread.id, limit=3, order="asc")
    assert first_page.has_more
    assert [m.id for m in first_page.data] == created[:3]
    before_page = client.beta.threads.messages.list(thread.id, limit=10, order="asc", before=created[4])
    assert [m.id for m in before_page.data] == created[:4]


def test_runs_create_list_modify_cancel_and_steps(client: OpenAI) -> None:
    assistant = client.beta.assistants.create(model="test-model", instructions="Assistant instructions.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    run = client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=assistant.id,
        additional_instructions="Be kind.",
        additional_messages=[{"role": "user", "content": "one more"}],
        temperature=0.5,
        max_completion_tokens=300,
        truncation_strategy={"type": "last_messages", "last_messages": 4},
        metadata={"k": "v"},
    )
    assert (run.status, run.object, run.instructions) == ("queued", "thread.run", "Assistant instructions.")
    assert run.expires_at is not None and run.expires_at > run.created_at
    assert run.truncation_strategy is not None and run.truncation_strategy.last_messages == 4
    assert len(client.beta.threads.messages.list(thread.id).data) == 2
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread.id, role="user", content="while busy")
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"k": "w"}).metadata == {
        "k": "w"
    }
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run.id]
    assert list(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)) == []
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError) as rejected:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert "Cannot cancel run with status 'cancelled'" in str(rejected.value)
    second = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert [r.id for r in client.beta.threads.runs.list(thread.id, order="asc")] == [run.id, second.id]


def test_create_thread_and_run(client: OpenAI) -> None:
    assistant = client.beta.assistants.create(model="test-model")
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "start"}], "metadata": {"via": "create_and_run"}},
        model="override-model",
    )
    assert (run.status, run.model) == ("queued", "override-model")
    thread = client.beta.threads.retrieve(run.thread_id)
    assert thread.metadata == {"via": "create_and_run"}
    assert [m.role for m in client.beta.threads.messages.list(run.thread_id)] == ["user"]
    assert client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id).status == "queued"


def test_auth_failure_and_tenancy(local_stack: LocalStackHandle, client: OpenAI) -> None:
    intruder = OpenAI(base_url=local_stack.base_url, api_key="sk-not-configured", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        intruder.beta.assistants.list()
    thread = client.beta.threads.create(metadata={"private": "yes"})
    other = OpenAI(base_url=local_stack.base_url, api_key=local_stack.other_api_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        other.beta.threads.messages.list(thread.id)
    with pytest.raises(openai.BadRequestError) as rejected:
        client.beta.threads.messages.create(thread.id, role="user", content="x", extra_body={"bogus": 1})
    assert "Unrecognized request argument supplied: bogus" in str(rejected.value)
