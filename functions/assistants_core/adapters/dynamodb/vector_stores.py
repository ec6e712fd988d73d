"""Vector stores, their files and batches (implements ``file_ports.VectorStoreRepository``).

Every status change of a store file is one transaction with the counter updates of its store (and batch):
``file_counts`` and ``usage_bytes`` can never drift from the files. Conditions compare the status read
(compare-and-set), so of two writers (a duplicate ingestion delivery, a cancel racing a finish) one wins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistants_core.adapters.dynamodb import vector_store_items as keys
from assistants_core.adapters.dynamodb.expressions import key_of
from assistants_core.adapters.dynamodb.file_items import OWNER_INDEX, file_pk
from assistants_core.adapters.dynamodb.index_reads import indexed_items
from assistants_core.adapters.dynamodb.table import (
    DynamoTable,
    Expression,
    Item,
    absent_condition,
    owned_condition,
)
from assistants_core.adapters.errors import ConditionFailedError, TransactionCancelledError
from assistants_core.domain.errors import ConflictError, InvalidRequestError, NotFoundError
from assistants_core.domain.models import Page, PageRequest
from assistants_core.domain.vector_stores import FileBatch, FileStatus, VectorStore, VectorStoreFile


def _add_to_counters(expression: Expression, changes: Mapping[str, int]) -> None:
    for name, delta in changes.items():
        if delta:
            attribute = expression.name(name)
            expression.set_clause(f"{attribute} = {attribute} + {expression.value(delta)}")


def _delete_op(
    table: DynamoTable, key: tuple[str, str], expression: Expression, condition: str | None = None
) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": table.table_name,
            "Key": key_of(*key),
            **expression.params(condition=condition),
        }
    }


def _exists(expression: Expression) -> str:
    return f"attribute_exists({expression.name('PK')})"


def _status_is(expression: Expression, status: FileStatus) -> str:
    return f"{expression.name('status')} = {expression.value(status.value)}"


class DynamoVectorStoreRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    # -- stores ---------------------------------------------------------------------------------------------
    def create_store(self, store: VectorStore) -> None:
        expression = Expression()
        try:
            self._table.put(keys.store_to_item(store), expression, absent_condition(expression))
        except ConditionFailedError:
            raise ConflictError(f"A vector store with id '{store.id}' already exists.") from None

    def get_store(self, owner: str, vector_store_id: str) -> VectorStore:
        store = self.find_store(vector_store_id)
        if store is None or store.owner != owner:
            raise NotFoundError("vector store", vector_store_id)
        return store

    def find_store(self, vector_store_id: str) -> VectorStore | None:
        item = self._table.get(keys.store_pk(vector_store_id), keys.STORE_SK)
        return keys.store_from_item(item) if item else None

    def update_store_fields(self, store: VectorStore, names: list[str]) -> VectorStore:
        """Write ``names`` (name, description, metadata, expires_after_days, last_active_at) of a store."""
        expression = Expression()
        item = keys.store_to_item(store)
        for name in names:
            expression.set(name, item[name])
        if {"expires_after_days", "last_active_at"} & set(names):  # the expiry index key moves with them
            for attribute in ("GSI2PK", "GSI2SK"):
                if attribute in item:
                    expression.set(attribute, item[attribute])
                else:
                    expression.remove(attribute)
        try:
            updated = self._table.update(
                keys.store_pk(store.id),
                keys.STORE_SK,
                expression,
                owned_condition(expression, store.owner),
                return_new=True,
            )
        except ConditionFailedError:
            raise NotFoundError("vector store", store.id) from None
        return keys.store_from_item(updated)

    def delete_store(self, owner: str, vector_store_id: str) -> list[str]:
        """Delete the store, its files, batches and the files' links; returns the ids of its files."""
        expression = Expression()
        try:
            self._table.delete(
                keys.store_pk(vector_store_id), keys.STORE_SK, expression, owned_condition(expression, owner)
            )
        except ConditionFailedError:
            raise NotFoundError("vector store", vector_store_id) from None
        items = self._table.query(
            partition=("PK", keys.store_pk(vector_store_id)), sort_attribute="SK", prefix="", keys_only=True
        )
        file_ids = [
            item["SK"][len(keys.STORE_FILE_PREFIX) :] for item in items if item["SK"].startswith("FILE#")
        ]
        doomed = [(item["PK"], item["SK"]) for item in items]
        doomed += [keys.link_key(file_id, vector_store_id) for file_id in file_ids]
        self._table.batch_delete(doomed)
        return file_ids

    def list_stores(self, owner: str, page: PageRequest) -> Page[VectorStore]:
        items, has_more = self._table.list_page(
            partition=("GSI1PK", keys.stores_of(owner)),
            sort_attribute="GSI1SK",
            prefix="",
            page=page,
            index=OWNER_INDEX,
        )
        return Page(data=[keys.store_from_item(item) for item in items], has_more=has_more)

    # -- store files ----------------------------------------------------------------------------------------
    def _counter_ops(
        self, file: VectorStoreFile, changes: Mapping[str, int], *, owner: str | None = None
    ) -> list[dict[str, Any]]:
        """Updates of the store's (and the file's batch's) counters; the store must exist (and be owner's)."""
        store = Expression()
        _add_to_counters(store, changes)
        condition = owned_condition(store, owner) if owner else _exists(store)
        ops = [self._table.update_op(keys.store_pk(file.vector_store_id), keys.STORE_SK, store, condition)]
        if file.batch_id:
            batch = Expression()
            _add_to_counters(batch, {name: delta for name, delta in changes.items() if name != "usage_bytes"})
            ops.append(
                self._table.update_op(
                    keys.store_pk(file.vector_store_id), keys.batch_sk(file.batch_id), batch, _exists(batch)
                )
            )
        return ops

    def add_file(self, file: VectorStoreFile) -> bool:
        """Put a new in-progress file, its link, and count it; False when the store already has it.
        ``NotFoundError`` when the store is gone (or another tenant's)."""
        put = Expression()
        link = Expression()
        link_pk, link_sk = keys.link_key(file.id, file.vector_store_id)
        operations = [
            self._table.put_op(keys.store_file_to_item(file), put, absent_condition(put)),
            *self._counter_ops(file, {FileStatus.IN_PROGRESS.value: 1}, owner=file.owner),
            self._table.put_op({"PK": link_pk, "SK": link_sk, "owner": file.owner}, link),
        ]
        try:
            self._table.transact(operations)
        except TransactionCancelledError as error:
            if error.failed(0):
                return False
            raise NotFoundError("vector store", file.vector_store_id) from None
        return True

    def get_file(self, owner: str, vector_store_id: str, file_id: str) -> VectorStoreFile:
        file = self.find_file(vector_store_id, file_id)
        if file is None or file.owner != owner:
            raise NotFoundError("vector store file", file_id)
        return file

    def find_file(self, vector_store_id: str, file_id: str) -> VectorStoreFile | None:
        item = self._table.get(keys.store_pk(vector_store_id), keys.store_file_sk(file_id))
        return keys.store_file_from_item(item) if item else None

    def list_files(
        self,
        vector_store_id: str,
        page: PageRequest,
        *,
        status: FileStatus | None = None,
        batch_id: str | None = None,
        in_added_order: bool = False,
    ) -> Page[VectorStoreFile]:
        """Files in file-id order, read consistently from the store's partition (the workers' and services'
        own walks); ``in_added_order``: by the time each file was added (``created_at``), as OpenAI lists
        them, through GSI1 (key conditions only; an ``after``/``before`` file id costs one GetItem)."""

        def keep(item: Item) -> bool:
            return (status is None or item.get("status") == status.value) and (
                batch_id is None or item.get("batch_id") == batch_id
            )

        def cursor_key(file_id: str, param: str) -> str:
            cursor = self.find_file(vector_store_id, file_id)
            if cursor is None:
                message = f"Invalid '{param}': no file '{file_id}' in vector store '{vector_store_id}'."
                raise InvalidRequestError(message, param=param)
            return keys.added_order_sk(cursor.created_at, cursor.id)

        if in_added_order:
            items, has_more = self._table.list_page(
                partition=("GSI1PK", keys.files_added_to(vector_store_id)),
                sort_attribute="GSI1SK",
                prefix="",
                page=page,
                index=keys.ADDED_ORDER_INDEX,
                keep=keep,
                cursor_key=cursor_key,
            )
        else:
            items, has_more = self._table.list_page(
                partition=("PK", keys.store_pk(vector_store_id)),
                sort_attribute="SK",
                prefix=keys.STORE_FILE_PREFIX,
                page=page,
                keep=keep,
            )
        return Page(data=[keys.store_file_from_item(item) for item in items], has_more=has_more)

    def set_attributes(self, file: VectorStoreFile) -> None:
        expression = Expression()
        expression.set("attributes", keys.store_file_to_item(file)["attributes"])
        try:
            self._table.update(
                keys.store_pk(file.vector_store_id),
                keys.store_file_sk(file.id),
                expression,
                owned_condition(expression, file.owner),
            )
        except ConditionFailedError:
            raise NotFoundError("vector store file", file.id) from None

    def remove_file(self, file: VectorStoreFile) -> bool:
        """Delete the file from its store (and its link), uncounting it; False when its status or usage
        changed since ``file`` was read (read again and retry)."""
        delete = Expression()
        usage = f"{delete.name('usage_bytes')} = {delete.value(file.usage_bytes)}"
        condition = f"{_status_is(delete, file.status)} AND {usage}"
        file_key = (keys.store_pk(file.vector_store_id), keys.store_file_sk(file.id))
        operations = [
            _delete_op(self._table, file_key, delete, condition),
            *self._counter_ops(file, {file.status.value: -1, "usage_bytes": -file.usage_bytes}),
            _delete_op(self._table, keys.link_key(file.id, file.vector_store_id), Expression()),
        ]
        try:
            self._table.transact(operations)
        except TransactionCancelledError:
            return False
        return True

    def finish_file(
        self,
        file: VectorStoreFile,
        target: FileStatus,
        *,
        usage_bytes: int = 0,
        last_error: dict[str, str] | None = None,
        claimed_attempt: int | None = None,
    ) -> bool:
        """in_progress -> ``target`` with the counters, iff still in progress (and, for a worker, still its
        claim: ``claimed_attempt``). False when someone else decided first."""
        update = Expression()
        update.set("status", target.value)
        update.set("usage_bytes", usage_bytes)
        update.set("last_error", last_error)
        update.remove("lease_expires_at")
        update.remove("GSI2PK")  # out of the in-progress index
        update.remove("GSI2SK")
        condition = _status_is(update, FileStatus.IN_PROGRESS)
        if claimed_attempt is not None:
            condition += f" AND {update.name('attempts')} = {update.value(claimed_attempt)}"
        changes = {FileStatus.IN_PROGRESS.value: -1, target.value: 1, "usage_bytes": usage_bytes}
        operations = [
            self._table.update_op(
                keys.store_pk(file.vector_store_id), keys.store_file_sk(file.id), update, condition
            ),
            *self._counter_ops(file, changes),
        ]
        try:
            self._table.transact(operations)
        except TransactionCancelledError:
            return False
        return True

    def claim_file(
        self, vector_store_id: str, file_id: str, *, lease_seconds: float, now: float
    ) -> VectorStoreFile | None:
        """Take the ingestion of an in-progress file whose lease is absent or ran out: ``attempts + 1`` and a
        new lease. None when it is finished, gone, or another worker's lease is still alive."""
        expression = Expression()
        expression.set_clause(
            f"{expression.name('attempts')} = {expression.name('attempts')} + {expression.value(1)}"
        )
        expression.set("lease_expires_at", now + lease_seconds)
        lease = expression.name("lease_expires_at")
        condition = (
            f"{_status_is(expression, FileStatus.IN_PROGRESS)} AND "
            f"(attribute_not_exists({lease}) OR {lease} <= {expression.value(now)})"
        )
        try:
            item = self._table.update(
                keys.store_pk(vector_store_id),
                keys.store_file_sk(file_id),
                expression,
                condition,
                return_new=True,
            )
        except ConditionFailedError:
            return None
        return keys.store_file_from_item(item)

    def renew_claim(self, file: VectorStoreFile, *, lease_seconds: float, now: float) -> bool:
        expression = Expression()
        expression.set("lease_expires_at", now + lease_seconds)
        condition = (
            f"{_status_is(expression, FileStatus.IN_PROGRESS)} AND "
            f"{expression.name('attempts')} = {expression.value(file.attempts)}"
        )
        try:
            self._table.update(
                keys.store_pk(file.vector_store_id), keys.store_file_sk(file.id), expression, condition
            )
        except ConditionFailedError:
            return False
        return True

    def list_in_progress_files(self, *, created_before: float, limit: int = 100) -> list[VectorStoreFile]:
        """Store files still in progress that were added before ``created_before``, oldest first (GSI2)."""
        items = self._table.query(
            partition=("GSI2PK", keys.INGESTING_PARTITION),
            sort_attribute="GSI2SK",
            prefix="",
            upper=f"{int(created_before):012d}~",
            want=limit,
            index=keys.INGESTING_INDEX,
        )
        return [keys.store_file_from_item(item) for item in indexed_items(self._table, items)]

    def stores_of_file(self, file_id: str) -> list[str]:
        items = self._table.query(
            partition=("PK", file_pk(file_id)), sort_attribute="SK", prefix=keys.LINK_PREFIX, keys_only=True
        )
        return [item["SK"][len(keys.LINK_PREFIX) :] for item in items]

    # -- batches --------------------------------------------------------------------------------------------
    def put_batch(self, batch: FileBatch) -> None:
        expression = Expression()
        self._table.put(keys.batch_to_item(batch), expression, absent_condition(expression))

    def get_batch(self, owner: str, vector_store_id: str, batch_id: str) -> FileBatch:
        item = self._table.get(keys.store_pk(vector_store_id), keys.batch_sk(batch_id))
        if item is None or item.get("owner") != owner:
            raise NotFoundError("vector store file batch", batch_id)
        return keys.batch_from_item(item)

    def mark_batch_cancelled(self, batch: FileBatch) -> None:
        expression = Expression()
        expression.set("batch_cancelled", True)
        self._table.update(
            keys.store_pk(batch.vector_store_id),
            keys.batch_sk(batch.id),
            expression,
            owned_condition(expression, batch.owner),
        )

    def set_batch_expected(self, batch: FileBatch, expected: int) -> None:
        expression = Expression()
        expression.set("expected", expected)
        self._table.update(
            keys.store_pk(batch.vector_store_id),
            keys.batch_sk(batch.id),
            expression,
            owned_condition(expression, batch.owner),
        )
