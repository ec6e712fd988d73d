"""Assistant, thread and message use cases through the real adapters."""

from __future__ import annotations

from typing import Any

import pytest

from assistants_core.domain.errors import InvalidRequestError, NotFoundError
from assistants_core.schemas.assistants import CreateAssistantRequest, ModifyAssistantRequest
from assistants_core.schemas.messages import CreateMessageRequest
from assistants_core.schemas.threads import CreateThreadRequest
from tests.unit.services.conftest import Services

OWNER = "tenant-a"


def test_modify_assistant_changes_only_the_fields_sent(services: Services) -> None:
    created = services.assistants.create(
        OWNER, CreateAssistantRequest(model="m", name="A", description="d", instructions="i")
    )
    modified = services.assistants.modify(
        OWNER, created.id, ModifyAssistantRequest.model_validate({"name": "B", "description": None})
    )
    assert (modified.name, modified.description, modified.instructions, modified.model) == (
        "B",
        None,
        "i",
        "m",
    )
    assert services.assistants.retrieve(OWNER, created.id).name == "B"
    with pytest.raises(InvalidRequestError):
        services.assistants.modify(OWNER, created.id, ModifyAssistantRequest.model_validate({"model": None}))


def test_assistant_list_pages_in_both_orders(services: Services) -> None:
    ids = []
    for index in range(5):
        services.clock.current += 1
        ids.append(services.assistants.create(OWNER, CreateAssistantRequest(model=f"m{index}")).id)
    first = services.assistants.list(OWNER, limit=2, order="asc")
    assert ([a.id for a in first.data], first.has_more) == (ids[:2], True)
    rest = services.assistants.list(OWNER, limit=10, order="asc", after=ids[1])
    assert ([a.id for a in rest.data], rest.has_more) == (ids[2:], False)
    newest = services.assistants.list(OWNER, limit=2, order="desc")
    assert [a.id for a in newest.data] == [ids[4], ids[3]]
    assert services.assistants.list("tenant-b").data == []


def test_message_content_parts_are_stored_as_openai_content(services: Services) -> None:
    thread = services.threads.create(OWNER, CreateThreadRequest())
    request = CreateMessageRequest.model_validate(
        {"role": "user", "content": [{"type": "text", "text": "see"}, {"type": "text", "text": " this"}]}
    )
    message = services.messages.create(OWNER, thread.id, request)
    stored = services.messages.retrieve(OWNER, thread.id, message.id)
    assert stored.content == [
        {"type": "text", "text": {"value": "see", "annotations": []}},
        {"type": "text", "text": {"value": " this", "annotations": []}},
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "image_file", "image_file": {"file_id": "file-1", "detail": "high"}},
    ],
)
def test_image_content_parts_are_refused_naming_the_part(services: Services, part: dict[str, Any]) -> None:
    """No served model reads images: a 400 naming the part, nothing stored."""
    thread = services.threads.create(OWNER, CreateThreadRequest())
    request = CreateMessageRequest.model_validate(
        {"role": "user", "content": [{"type": "text", "text": "see"}, part]}
    )
    with pytest.raises(InvalidRequestError) as refused:
        services.messages.create(OWNER, thread.id, request)
    assert refused.value.param == "content[1]"
    assert part["type"] in refused.value.message
    assert services.messages.list(OWNER, thread.id).data == []


def test_messages_list_filters_by_run_id(services: Services) -> None:
    thread = services.threads.create(
        OWNER, CreateThreadRequest.model_validate({"messages": [{"role": "user", "content": "a"}]})
    )
    assert len(services.messages.list(OWNER, thread.id).data) == 1
    assert services.messages.list(OWNER, thread.id, run_id="run_none").data == []


def test_ids_with_the_wrong_prefix_are_not_found_without_storage(services: Services) -> None:
    with pytest.raises(NotFoundError):
        services.threads.retrieve(OWNER, "asst_123")
    with pytest.raises(NotFoundError):
        services.messages.retrieve(OWNER, "thread_1", "run_1")


def test_bad_page_requests_are_rejected(services: Services) -> None:
    with pytest.raises(InvalidRequestError) as too_many:
        services.assistants.list(OWNER, limit=101)
    assert too_many.value.param == "limit"
    with pytest.raises(InvalidRequestError) as bad_order:
        services.assistants.list(OWNER, order="sideways")
    assert bad_order.value.param == "order"


def test_thread_delete_removes_its_messages(services: Services) -> None:
    thread = services.threads.create(
        OWNER, CreateThreadRequest.model_validate({"messages": [{"role": "user", "content": "bye"}]})
    )
    services.threads.delete(OWNER, thread.id)
    with pytest.raises(NotFoundError):
        services.threads.retrieve(OWNER, thread.id)
    with pytest.raises(NotFoundError):
        services.messages.list(OWNER, thread.id)
