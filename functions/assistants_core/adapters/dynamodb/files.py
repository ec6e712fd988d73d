"""Files: ``FILE#<id>`` / ``FILE``, listed per owner through GSI1 (``file_ports.FileRepository``)."""

from __future__ import annotations

from assistants_core.adapters.dynamodb.file_items import (
    FILE_SK,
    OWNER_INDEX,
    file_from_item,
    file_pk,
    file_to_item,
    files_of,
)
from assistants_core.adapters.dynamodb.table import (
    DynamoTable,
    Expression,
    Item,
    absent_condition,
    owned_condition,
)
from assistants_core.adapters.errors import ConditionFailedError
from assistants_core.domain.errors import ConflictError, NotFoundError
from assistants_core.domain.files import StoredFile
from assistants_core.domain.models import Page, PageRequest


class DynamoFileRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def put_file(self, file: StoredFile) -> None:
        expression = Expression()
        try:
            self._table.put(file_to_item(file), expression, absent_condition(expression))
        except ConditionFailedError:
            raise ConflictError(f"A file with id '{file.id}' already exists.") from None

    def get_file(self, owner: str, file_id: str) -> StoredFile:
        item = self._table.get(file_pk(file_id), FILE_SK)
        if item is None or item.get("owner") != owner:
            raise NotFoundError("file", file_id)
        return file_from_item(item)

    def delete_file(self, owner: str, file_id: str) -> StoredFile:
        expression = Expression()
        try:
            condition = owned_condition(expression, owner)
            item = self._table.delete(file_pk(file_id), FILE_SK, expression, condition)
        except ConditionFailedError:
            raise NotFoundError("file", file_id) from None
        return file_from_item(item)

    def list_files(
        self, owner: str, page: PageRequest, *, purpose: str | None = None, now: float | None = None
    ) -> Page[StoredFile]:
        def keep(item: Item) -> bool:
            if purpose is not None and item.get("purpose") != purpose:
                return False
            expires_at = item.get("expires_at")
            return now is None or expires_at is None or now < expires_at

        items, has_more = self._table.list_page(
            partition=("GSI1PK", files_of(owner)),
            sort_attribute="GSI1SK",
            prefix="",
            page=page,
            index=OWNER_INDEX,
            keep=keep,
        )
        return Page(data=[file_from_item(item) for item in items], has_more=has_more)
