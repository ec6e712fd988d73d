from __future__ import annotations

import pytest

from assistants_core.adapters.dynamodb import DynamoAssistantRepository
from assistants_core.domain.errors import ConflictError, NotFoundError
from assistants_core.domain.models import PageRequest
from tests.contract.factories import OTHER_OWNER, OWNER, make_assistant
from tests.contract.pagination import assert_paginates


def test_put_get_replace_delete(assistant_repo: DynamoAssistantRepository) -> None:
    assistant = make_assistant(
        name="helper",
        description="d",
        instructions="be kind",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": []}},
        metadata={"k": "v"},
        temperature=0.25,
        top_p=0.5,
        response_format={"type": "json_object"},
    )
    assistant_repo.put_assistant(assistant)
    assert assistant_repo.get_assistant(OWNER, assistant.id) == assistant

    assistant.name = "renamed"
    assistant.temperature = 1.0
    assistant.metadata = {}
    assistant_repo.replace_assistant(assistant)
    stored = assistant_repo.get_assistant(OWNER, assistant.id)
    assert stored == assistant
    assert isinstance(stored.temperature, float)

    assistant_repo.delete_assistant(OWNER, assistant.id)
    with pytest.raises(NotFoundError):
        assistant_repo.get_assistant(OWNER, assistant.id)
    with pytest.raises(NotFoundError):
        assistant_repo.delete_assistant(OWNER, assistant.id)


def test_duplicate_put_is_a_conflict(assistant_repo: DynamoAssistantRepository) -> None:
    assistant = make_assistant()
    assistant_repo.put_assistant(assistant)
    with pytest.raises(ConflictError):
        assistant_repo.put_assistant(make_assistant(id=assistant.id, name="other"))
    assert assistant_repo.get_assistant(OWNER, assistant.id).name is None


def test_other_tenant_sees_nothing_and_changes_nothing(assistant_repo: DynamoAssistantRepository) -> None:
    assistant = make_assistant(name="mine")
    assistant_repo.put_assistant(assistant)

    with pytest.raises(NotFoundError) as raised:
        assistant_repo.get_assistant(OTHER_OWNER, assistant.id)
    assert raised.value.message == f"No assistant found with id '{assistant.id}'."
    with pytest.raises(NotFoundError):
        assistant_repo.replace_assistant(make_assistant(OTHER_OWNER, id=assistant.id, name="stolen"))
    with pytest.raises(NotFoundError):
        assistant_repo.delete_assistant(OTHER_OWNER, assistant.id)
    with pytest.raises(NotFoundError):
        assistant_repo.replace_assistant(make_assistant())  # never created

    assert assistant_repo.get_assistant(OWNER, assistant.id) == assistant
    assert assistant_repo.list_assistants(OTHER_OWNER, PageRequest()).data == []


def test_list_paginates_per_owner(assistant_repo: DynamoAssistantRepository) -> None:
    created = []
    for _ in range(7):
        assistant = make_assistant()
        assistant_repo.put_assistant(assistant)
        created.append(assistant.id)
    assistant_repo.put_assistant(make_assistant(OTHER_OWNER))

    assert_paginates(lambda page: assistant_repo.list_assistants(OWNER, page), created)
