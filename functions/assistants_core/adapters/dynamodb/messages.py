"""Messages: ``THREAD#<thread_id>`` / ``MSG#<id>`` (implements ports.MessageRepository)."""

from __future__ import annotations

from assistants_core.adapters.dynamodb.items import (
    MESSAGE_PREFIX,
    RUN_MESSAGES_INDEX,
    THREAD_SK,
    encode_field,
    message_sk,
    run_messages_of,
    thread_pk,
)
from assistants_core.adapters.dynamodb.message_bodies import (
    forget_uploaded_bodies,
    load_message,
    store_message_item,
)
from assistants_core.adapters.dynamodb.table import DynamoTable, Expression, absent_condition, owned_condition
from assistants_core.adapters.dynamodb.threads import thread_lock_holder
from assistants_core.adapters.errors import ConditionFailedError, TransactionCancelledError
from assistants_core.domain.errors import ConflictError, NotFoundError, ThreadBusyError
from assistants_core.domain.models import Message, Page, PageRequest


def unlocked_thread_condition(expression: Expression, owner: str) -> str:
    """The thread exists, belongs to ``owner`` and has no active run."""
    return (
        f"{owned_condition(expression, owner)} AND attribute_not_exists({expression.name('active_run_id')})"
    )


class DynamoMessageRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def add_message(self, message: Message) -> None:
        thread_check = Expression()
        message_put = Expression()
        item = store_message_item(self._table, message)
        operations = [
            self._table.check_op(
                thread_pk(message.thread_id),
                THREAD_SK,
                thread_check,
                unlocked_thread_condition(thread_check, message.owner),
            ),
            self._table.put_op(item, message_put, absent_condition(message_put)),
        ]
        try:
            self._table.transact(operations)
        except TransactionCancelledError as cancelled:
            forget_uploaded_bodies(self._table, [item])
            if cancelled.failed(0):
                holder = thread_lock_holder(self._table, message.owner, message.thread_id)
                raise ThreadBusyError(message.thread_id, holder, action="add messages to") from None
            raise ConflictError(f"A message with id '{message.id}' already exists.") from None
        except Exception:
            forget_uploaded_bodies(self._table, [item])
            raise

    def get_message(self, owner: str, thread_id: str, message_id: str) -> Message:
        item = self._table.get(thread_pk(thread_id), message_sk(message_id))
        if item is None or item.get("owner") != owner:
            raise NotFoundError("message", message_id)
        return load_message(self._table, item)

    def replace_message_metadata(self, message: Message) -> None:
        expression = Expression()
        expression.set("metadata", encode_field("metadata", message.metadata, frozenset()))
        try:
            self._table.update(
                thread_pk(message.thread_id),
                message_sk(message.id),
                expression,
                owned_condition(expression, message.owner),
            )
        except ConditionFailedError:
            raise NotFoundError("message", message.id) from None

    def delete_message(self, owner: str, thread_id: str, message_id: str) -> None:
        expression = Expression()
        try:
            deleted = self._table.delete(
                thread_pk(thread_id), message_sk(message_id), expression, owned_condition(expression, owner)
            )
        except ConditionFailedError:
            raise NotFoundError("message", message_id) from None
        if deleted.get("body_key"):
            self._table.bodies.delete_prefix(str(deleted["body_key"]))

    def list_messages(
        self, owner: str, thread_id: str, page: PageRequest, *, run_id: str | None = None
    ) -> Page[Message]:
        thread_lock_holder(self._table, owner, thread_id)  # 404 unless the thread is this owner's
        if run_id is None:
            partition, sort_attribute, index = ("PK", thread_pk(thread_id)), "SK", None
        else:  # a run's messages: one key condition on the sparse index, never the whole thread
            partition = ("GSI1PK", run_messages_of(thread_id, run_id))
            sort_attribute, index = "GSI1SK", RUN_MESSAGES_INDEX
        items, has_more = self._table.list_page(
            partition=partition, sort_attribute=sort_attribute, prefix=MESSAGE_PREFIX, page=page, index=index
        )
        return Page(data=[load_message(self._table, item) for item in items], has_more=has_more)

    def list_thread_messages(self, thread_id: str) -> list[Message]:
        items = self._table.query(
            partition=("PK", thread_pk(thread_id)), sort_attribute="SK", prefix=MESSAGE_PREFIX
        )
        return [load_message(self._table, item) for item in items]

    def list_newest_thread_messages(
        self, thread_id: str, limit: int, *, older_than: str | None = None
    ) -> list[Message]:
        if limit <= 0:
            return []
        items = self._table.query(
            partition=("PK", thread_pk(thread_id)),
            sort_attribute="SK",
            prefix=MESSAGE_PREFIX,
            upper=message_sk(older_than) if older_than is not None else None,
            forward=False,
            want=limit,
        )
        return [load_message(self._table, item) for item in items]
