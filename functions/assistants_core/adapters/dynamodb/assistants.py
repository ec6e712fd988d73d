"""Assistants: ``ASST#<id>`` / ``ASST``, listed per owner through GSI1 (ports.AssistantRepository)."""

from __future__ import annotations

from assistants_core.adapters.dynamodb.items import (
    ASSISTANT_SK,
    ASSISTANTS_INDEX,
    assistant_from_item,
    assistant_pk,
    assistant_to_item,
    assistants_of,
)
from assistants_core.adapters.dynamodb.table import DynamoTable, Expression, absent_condition, owned_condition
from assistants_core.adapters.errors import ConditionFailedError
from assistants_core.domain.errors import ConflictError, NotFoundError
from assistants_core.domain.models import Assistant, Page, PageRequest


class DynamoAssistantRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def put_assistant(self, assistant: Assistant) -> None:
        expression = Expression()
        try:
            self._table.put(assistant_to_item(assistant), expression, absent_condition(expression))
        except ConditionFailedError:
            raise ConflictError(f"An assistant with id '{assistant.id}' already exists.") from None

    def get_assistant(self, owner: str, assistant_id: str) -> Assistant:
        item = self._table.get(assistant_pk(assistant_id), ASSISTANT_SK)
        if item is None or item.get("owner") != owner:
            raise NotFoundError("assistant", assistant_id)
        return assistant_from_item(item)

    def replace_assistant(self, assistant: Assistant) -> None:
        expression = Expression()
        try:
            self._table.put(
                assistant_to_item(assistant), expression, owned_condition(expression, assistant.owner)
            )
        except ConditionFailedError:
            raise NotFoundError("assistant", assistant.id) from None

    def delete_assistant(self, owner: str, assistant_id: str) -> None:
        expression = Expression()
        try:
            self._table.delete(
                assistant_pk(assistant_id), ASSISTANT_SK, expression, owned_condition(expression, owner)
            )
        except ConditionFailedError:
            raise NotFoundError("assistant", assistant_id) from None

    def list_assistants(self, owner: str, page: PageRequest) -> Page[Assistant]:
        items, has_more = self._table.list_page(
            partition=("GSI1PK", assistants_of(owner)),
            sort_attribute="GSI1SK",
            prefix="",
            page=page,
            index=ASSISTANTS_INDEX,
        )
        return Page(data=[assistant_from_item(item) for item in items], has_more=has_more)
