"""Files and vector stores that expire, found and deleted without a scan (``file_ports.ExpiredObjects``).

An object with an expiry is also in the sparse index GSI2 under ``EXPIRING`` / ``<expires_at>#<kind>#<id>``
(``vs``: a store, whose key moves with ``last_active_at``; ``file``: a file). The sweep queries the keys up
to now, oldest first. A store's key is written in the same write as what moves its expiry, so an entry is
never staler than its item; the sweep still reads the item again before deleting anything. Deletes go
children first and the indexed item last, so a sweep that dies half-way leaves the entry for the next one."""

from __future__ import annotations

from assistants_core.adapters.dynamodb import vector_store_items as keys
from assistants_core.adapters.dynamodb.file_items import (
    EXPIRING_INDEX,
    EXPIRING_PARTITION,
    FILE_KIND,
    FILE_SK,
    STORE_KIND,
    expiring_keys,
    file_from_item,
    file_pk,
)
from assistants_core.adapters.dynamodb.table import DynamoTable, Expression, Item
from assistants_core.adapters.errors import ConditionFailedError
from assistants_core.domain.files import StoredFile
from assistants_core.domain.vector_stores import VectorStore
from assistants_core.file_ports import ExpiringObject


def _parse(sort_key: str) -> ExpiringObject:
    expires_at, kind, object_id = sort_key.split("#", 2)
    return ExpiringObject(kind=kind, id=object_id, expires_at=int(expires_at))


class DynamoExpiredObjects:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def list_expired(self, *, now: float, limit: int) -> list[ExpiringObject]:
        """Objects whose expiry is at or before ``now``, soonest first (at most ``limit``)."""
        items = self._table.query(
            partition=("GSI2PK", EXPIRING_PARTITION),
            sort_attribute="GSI2SK",
            prefix="",
            upper=f"{int(now):012d}~",
            want=limit,
            index=EXPIRING_INDEX,
        )
        return [_parse(item["GSI2SK"]) for item in items]

    def find_file(self, file_id: str) -> StoredFile | None:
        item = self._table.get(file_pk(file_id), FILE_SK)
        return file_from_item(item) if item else None

    def delete_file(self, file: StoredFile) -> bool:
        """Delete the file's item iff it is still this owner's and still expires when it did."""
        key = (file_pk(file.id), FILE_SK)
        return self._delete_indexed(key, file.owner, expiring_keys(FILE_KIND, file.id, file.expires_at))

    def delete_store_contents(self, vector_store_id: str) -> list[str]:
        """Delete the store's files, batches and the files' links (not the store item); returns the ids of
        the files that were in it. Idempotent."""
        items = self._table.query(
            partition=("PK", keys.store_pk(vector_store_id)), sort_attribute="SK", prefix="", keys_only=True
        )
        file_ids = [
            item["SK"][len(keys.STORE_FILE_PREFIX) :]
            for item in items
            if item["SK"].startswith(keys.STORE_FILE_PREFIX)
        ]
        doomed = [(item["PK"], item["SK"]) for item in items if item["SK"] != keys.STORE_SK]
        doomed += [keys.link_key(file_id, vector_store_id) for file_id in file_ids]
        self._table.batch_delete(doomed)
        return file_ids

    def delete_store(self, store: VectorStore) -> bool:
        """Delete the store item iff still the owner's with the expiry it was read with (not renewed)."""
        key = (keys.store_pk(store.id), keys.STORE_SK)
        return self._delete_indexed(key, store.owner, expiring_keys(STORE_KIND, store.id, store.expires_at))

    def _delete_indexed(self, key: tuple[str, str], owner: str, index_keys: Item) -> bool:
        expression = Expression()
        expected = index_keys.get("GSI2SK")
        condition = (
            f"{expression.name('owner')} = {expression.value(owner)} AND "
            f"{expression.name('GSI2SK')} = {expression.value(expected)}"
        )
        try:
            self._table.delete(*key, expression, condition)
        except ConditionFailedError:
            return False
        return True
