"""Every optional field of the Assistants objects, set through the official SDK, comes back in OpenAI's shapes
(the conformance check in ``conformance.py`` validates each of these responses against OpenAI's schemas;
this test makes sure the optional parts of those schemas are produced at all): tool resources, the file
search tool with its settings, strict functions, ``json_schema`` response formats, attachments, a named tool
choice and every run option. No worker: the run stays queued and is cancelled. (Tools and content the server
does not run, code_interpreter and images, are refused: test_file_search_api.py.)"""

from __future__ import annotations

import pytest
from openai import OpenAI

from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Find a fact.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
FILE_SEARCH = {
    "type": "file_search",
    "file_search": {"max_num_results": 5, "ranking_options": {"score_threshold": 0.5, "ranker": "auto"}},
}
ANSWER_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "description": "One short answer.",
        "schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
        "strict": True,
    },
}


@pytest.fixture
def client(local_stack: LocalStackHandle) -> OpenAI:
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


def test_every_optional_field_round_trips(client: OpenAI) -> None:
    file_id = client.files.create(file=("facts.txt", b"The sky is blue."), purpose="assistants").id
    store_id = client.vector_stores.create(name="surface").id
    resources = {"code_interpreter": {"file_ids": [file_id]}, "file_search": {"vector_store_ids": [store_id]}}
    assistant = client.beta.assistants.create(
        model="scripted",
        name="Surface",
        description="Exercises every optional field.",
        instructions="Answer briefly.",
        tools=[FILE_SEARCH, LOOKUP],  # type: ignore[list-item]
        tool_resources=resources,  # type: ignore[arg-type]
        response_format=ANSWER_FORMAT,  # type: ignore[arg-type]
        temperature=0.5,
        top_p=0.9,
        metadata={"suite": "surface"},
    )
    assert [tool.type for tool in assistant.tools] == ["file_search", "function"]
    assert assistant.tool_resources is not None and assistant.tool_resources.file_search is not None
    assert assistant.tool_resources.file_search.vector_store_ids == [store_id]
    assert assistant.description == "Exercises every optional field."
    assert client.beta.assistants.retrieve(assistant.id).response_format == assistant.response_format

    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "what is in the file?"}],
                "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
            }
        ],
        tool_resources=resources,  # type: ignore[arg-type]
        metadata={"suite": "surface"},
    )
    assert thread.tool_resources is not None and thread.tool_resources.code_interpreter is not None
    (message,) = client.beta.threads.messages.list(thread.id).data
    assert message.attachments is not None and message.attachments[0].file_id == file_id

    run = client.beta.threads.runs.create(
        thread.id,
        assistant_id=assistant.id,
        additional_instructions="Cite the file.",
        additional_messages=[{"role": "user", "content": "and be brief"}],
        tool_choice={"type": "function", "function": {"name": "lookup"}},
        truncation_strategy={"type": "last_messages", "last_messages": 5},
        max_prompt_tokens=1000,
        max_completion_tokens=500,
        parallel_tool_calls=False,
        response_format={"type": "text"},
        metadata={"suite": "surface"},
    )
    assert run.status == "queued" and run.usage is None
    assert run.tool_choice is not None and run.truncation_strategy is not None
    assert client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"n": "1"}).metadata == {
        "n": "1"
    }
    assert [listed.id for listed in client.beta.threads.runs.list(thread.id)] == [run.id]
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data == []
    assert client.beta.threads.update(thread.id, tool_resources={"code_interpreter": {"file_ids": []}})
    assert client.beta.assistants.delete(assistant.id).deleted
