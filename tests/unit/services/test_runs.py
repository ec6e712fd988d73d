"""Run use cases through the real adapters: defaults, stored options, queueing, cancel transitions."""

from __future__ import annotations

from typing import Any

import pytest

from assistants_core.adapters.sqs_queue import decode_run_message
from assistants_core.domain.errors import (
    InvalidRequestError,
    InvalidRunStateError,
    NotFoundError,
    ThreadBusyError,
)
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunRef
from assistants_core.schemas.assistants import CreateAssistantRequest
from assistants_core.schemas.runs import CreateRunRequest, CreateThreadAndRunRequest
from assistants_core.schemas.threads import CreateThreadRequest
from tests.unit.services.conftest import Services

OWNER = "tenant-a"


def queued_refs(services: Services) -> list[RunRef]:
    received = services.clients.sqs.receive_message(
        QueueUrl=services.resources.run_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [ref for m in received.get("Messages", []) if (ref := decode_run_message(m["Body"])) is not None]


def setup(services: Services, **assistant: Any) -> tuple[str, str]:
    created = services.assistants.create(
        OWNER,
        CreateAssistantRequest.model_validate(
            {"model": "base-model", "instructions": "Assistant says hi.", "temperature": 0.7, **assistant}
        ),
    )
    thread = services.threads.create(
        OWNER, CreateThreadRequest.model_validate({"messages": [{"role": "user", "content": "q"}]})
    )
    return created.id, thread.id


def test_run_defaults_come_from_the_assistant_and_options_are_stored(services: Services) -> None:
    tools = [{"type": "file_search"}, {"type": "function", "function": {"name": "f"}}]
    assistant_id, thread_id = setup(services, tools=tools)
    request = CreateRunRequest.model_validate(
        {
            "assistant_id": assistant_id,
            "additional_instructions": "Also be brief.",
            "top_p": 0.5,
            "max_prompt_tokens": 1_000,
            "max_completion_tokens": 256,
            "truncation_strategy": {"type": "last_messages", "last_messages": 3},
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
            "response_format": {"type": "json_object"},
            "metadata": {"a": "1"},
        }
    )
    run = services.runs.create(OWNER, thread_id, request)
    stored = services.run_repo.get_run(OWNER, thread_id, run.id)
    assert stored.status is RunStatus.QUEUED
    assert (stored.model, stored.instructions, stored.temperature) == (
        "base-model",
        "Assistant says hi.",
        0.7,
    )
    assert stored.tools == tools
    assert stored.additional_instructions == "Also be brief."
    assert (stored.top_p, stored.max_prompt_tokens, stored.max_completion_tokens) == (0.5, 1_000, 256)
    assert stored.truncation_strategy == {"type": "last_messages", "last_messages": 3}
    assert stored.tool_choice == {"type": "function", "function": {"name": "f"}}
    assert stored.parallel_tool_calls is False
    assert stored.response_format == {"type": "json_object"}
    assert stored.metadata == {"a": "1"}
    assert stored.expires_at == stored.created_at + 600
    assert queued_refs(services) == [RunRef(thread_id=thread_id, run_id=run.id)]


def test_run_overrides_win_over_the_assistant(services: Services) -> None:
    assistant_id, thread_id = setup(services)
    request = CreateRunRequest(
        assistant_id=assistant_id, model="other", instructions="Override.", temperature=0.1
    )
    run = services.runs.create(OWNER, thread_id, request)
    assert (run.model, run.instructions, run.temperature) == ("other", "Override.", 0.1)


def test_a_failed_queue_send_keeps_the_run_queued(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant_id, thread_id = setup(services)

    def broken_send(ref: RunRef, *, delay_seconds: int = 0) -> None:
        raise ConnectionError("sqs unreachable")

    monkeypatch.setattr(services.queue, "enqueue_run", broken_send)
    run = services.runs.create(OWNER, thread_id, CreateRunRequest(assistant_id=assistant_id))
    assert services.run_repo.get_run(OWNER, thread_id, run.id).status is RunStatus.QUEUED


def test_second_run_on_a_busy_thread_is_rejected(services: Services) -> None:
    assistant_id, thread_id = setup(services)
    services.runs.create(OWNER, thread_id, CreateRunRequest(assistant_id=assistant_id))
    with pytest.raises(ThreadBusyError):
        services.runs.create(OWNER, thread_id, CreateRunRequest(assistant_id=assistant_id))
    assert len(queued_refs(services)) == 1


def test_assistant_of_another_tenant_is_not_found(services: Services) -> None:
    assistant_id, _ = setup(services)
    other_thread = services.threads.create("tenant-b", CreateThreadRequest())
    with pytest.raises(NotFoundError) as missing:
        services.runs.create("tenant-b", other_thread.id, CreateRunRequest(assistant_id=assistant_id))
    assert missing.value.param == "assistant_id"


def test_cancel_queued_run_cancels_at_once_and_releases_the_thread(services: Services) -> None:
    assistant_id, thread_id = setup(services)
    run = services.runs.create(OWNER, thread_id, CreateRunRequest(assistant_id=assistant_id))
    services.clock.current += 5
    cancelled = services.runs.cancel(OWNER, thread_id, run.id)
    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.cancelled_at == int(services.clock.current)
    assert services.threads.retrieve(OWNER, thread_id).active_run_id is None
    with pytest.raises(InvalidRunStateError, match=r"Cannot cancel run with status 'cancelled'\."):
        services.runs.cancel(OWNER, thread_id, run.id)


def test_cancel_in_progress_run_asks_the_worker_via_cancelling(services: Services) -> None:
    assistant_id, thread_id = setup(services)
    run = services.runs.create(OWNER, thread_id, CreateRunRequest(assistant_id=assistant_id))
    claimed = services.run_repo.claim_run(
        thread_id, run.id, worker_id="w1", lease_seconds=60, now=services.clock.now()
    )
    assert claimed is not None
    assert services.runs.cancel(OWNER, thread_id, run.id).status is RunStatus.CANCELLING
    assert services.runs.cancel(OWNER, thread_id, run.id).status is RunStatus.CANCELLING
    assert services.threads.retrieve(OWNER, thread_id).active_run_id == run.id


def test_cancel_of_a_completed_run_is_rejected_and_changes_nothing(services: Services) -> None:
    assistant_id, thread_id = setup(services)
    run = services.runs.create(OWNER, thread_id, CreateRunRequest(assistant_id=assistant_id))
    claimed = services.run_repo.claim_run(
        thread_id, run.id, worker_id="w1", lease_seconds=60, now=services.clock.now()
    )
    assert claimed is not None
    services.run_repo.transition_run(claimed, RunStatus.COMPLETED, fields={"completed_at": 1})
    with pytest.raises(InvalidRunStateError, match=r"Cannot cancel run with status 'completed'\."):
        services.runs.cancel(OWNER, thread_id, run.id)
    after = services.run_repo.get_run(OWNER, thread_id, run.id)
    assert (after.status, after.cancelled_at) == (RunStatus.COMPLETED, None)


def test_create_thread_and_run_writes_thread_messages_and_run_together(services: Services) -> None:
    assistant_id, _ = setup(services)
    request = CreateThreadAndRunRequest.model_validate(
        {
            "assistant_id": assistant_id,
            "thread": {"messages": [{"role": "user", "content": "hello"}], "metadata": {"m": "1"}},
            "tool_resources": {"code_interpreter": {"file_ids": ["file-1"]}},
        }
    )
    run = services.runs.create_thread_and_run(OWNER, request)
    thread = services.threads.retrieve(OWNER, run.thread_id)
    assert thread.active_run_id == run.id
    assert thread.metadata == {"m": "1"}
    assert thread.tool_resources == {"code_interpreter": {"file_ids": ["file-1"]}}
    texts = [m.text() for m in services.messages.list(OWNER, run.thread_id, order="asc").data]
    assert texts == ["hello"]


def test_invalid_thread_and_run_writes_nothing(services: Services) -> None:
    assistant_id, _ = setup(services)
    request = CreateThreadAndRunRequest.model_validate(
        {"assistant_id": assistant_id, "thread": {"messages": [{"role": "user", "content": "x" * 1_001}]}}
    )
    before = services.clients.dynamodb.scan(TableName=services.resources.table_name, Select="COUNT")["Count"]
    with pytest.raises(InvalidRequestError) as rejected:
        services.runs.create_thread_and_run(OWNER, request)
    assert rejected.value.param == "thread.messages[0].content"
    after = services.clients.dynamodb.scan(TableName=services.resources.table_name, Select="COUNT")["Count"]
    assert after == before
    assert queued_refs(services) == []
