"""Threads: ``THREAD#<id>`` / ``THREAD``; ``active_run_id`` is the one-active-run lock
(implements ports.ThreadRepository)."""

from __future__ import annotations

from typing import Any

from assistants_core.adapters.dynamodb.items import (
    MESSAGE_PREFIX,
    RUN_PREFIX,
    STEP_PREFIX,
    THREAD_SK,
    run_sk,
    thread_field,
    thread_from_item,
    thread_pk,
    thread_to_item,
)
from assistants_core.adapters.dynamodb.message_bodies import (
    forget_uploaded_bodies,
    store_message_items,
    thread_body_prefix,
)
from assistants_core.adapters.dynamodb.run_slots import give_back_run_slot
from assistants_core.adapters.dynamodb.table import (
    MAX_TRANSACTION_ITEMS,
    DynamoTable,
    Expression,
    absent_condition,
    owned_condition,
)
from assistants_core.adapters.errors import ConditionFailedError, TransactionCancelledError
from assistants_core.domain.errors import ConflictError, InvalidRequestError, NotFoundError
from assistants_core.domain.models import Message, Thread
from assistants_core.domain.status import RunStatus

# The thread's own children a delete removes (not EVT#: see delete_thread).
_DELETED_CHILD_PREFIXES = (MESSAGE_PREFIX, RUN_PREFIX, STEP_PREFIX)


class DynamoThreadRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def create_thread(self, thread: Thread, messages: list[Message]) -> None:
        if len(messages) + 1 > MAX_TRANSACTION_ITEMS:
            raise InvalidRequestError(
                f"A thread can be created with at most {MAX_TRANSACTION_ITEMS - 1} messages.",
                param="messages",
            )
        expression = Expression()
        operations = [self._table.put_op(thread_to_item(thread), expression, absent_condition(expression))]
        message_items = store_message_items(self._table, messages)
        for item in message_items:
            message_expression = Expression()
            operations.append(
                self._table.put_op(item, message_expression, absent_condition(message_expression))
            )
        try:
            self._table.transact(operations)
        except TransactionCancelledError:
            forget_uploaded_bodies(self._table, message_items)
            raise ConflictError(f"A thread with id '{thread.id}' already exists.") from None
        except Exception:
            forget_uploaded_bodies(self._table, message_items)
            raise

    def get_thread(self, owner: str, thread_id: str) -> Thread:
        item = self._table.get(thread_pk(thread_id), THREAD_SK)
        if item is None or item.get("owner") != owner:
            raise NotFoundError("thread", thread_id)
        return thread_from_item(item)

    def replace_thread_fields(self, thread: Thread) -> None:
        expression = Expression()
        expression.set("metadata", thread_field("metadata", thread.metadata))
        expression.set("tool_resources", thread_field("tool_resources", thread.tool_resources))
        try:
            self._table.update(
                thread_pk(thread.id), THREAD_SK, expression, owned_condition(expression, thread.owner)
            )
        except ConditionFailedError:
            raise NotFoundError("thread", thread.id) from None

    def set_tool_resources(self, thread: Thread, previous: dict[str, Any] | None) -> bool:
        """Write ``thread.tool_resources`` iff the stored ones are still ``previous`` (compare-and-set: a
        concurrent modify is never overwritten); False when they changed. ``NotFoundError`` when gone."""
        expression = Expression()
        expression.set("tool_resources", thread_field("tool_resources", thread.tool_resources))
        stored = expression.name("tool_resources")
        unchanged = (
            f"attribute_not_exists({stored})"
            if previous is None
            else f"{stored} = {expression.value(thread_field('tool_resources', previous))}"
        )
        condition = f"{owned_condition(expression, thread.owner)} AND {unchanged}"
        try:
            self._table.update(thread_pk(thread.id), THREAD_SK, expression, condition)
        except ConditionFailedError:
            self.get_thread(thread.owner, thread.id)  # NotFoundError when the thread is gone
            return False
        return True

    def delete_thread(self, owner: str, thread_id: str) -> None:
        """Children first, the thread item last: an interrupted delete can simply be repeated.

        Run event items (``EVT#``, hundreds per run) are left to their TTL: nothing reads them once the
        thread is gone (a stream retrieves its run first), and deleting them would cost this request a
        query and a batch delete per event page."""
        thread = self.get_thread(owner, thread_id)
        pk = thread_pk(thread_id)
        if thread.active_run_id is not None:
            self._give_back_run_slot(thread_id, thread.active_run_id)
        children = [
            item
            for prefix in _DELETED_CHILD_PREFIXES
            for item in self._table.query(
                partition=("PK", pk), sort_attribute="SK", prefix=prefix, keys_only=True
            )
        ]
        self._table.batch_delete([(pk, str(item["SK"])) for item in children])
        self._table.bodies.delete_prefix(thread_body_prefix(thread_id))
        expression = Expression()
        try:
            self._table.delete(pk, THREAD_SK, expression, owned_condition(expression, owner))
        except ConditionFailedError:
            raise NotFoundError("thread", thread_id) from None

    def _give_back_run_slot(self, thread_id: str, run_id: str) -> None:
        """The quota slot of the thread's active run, which is deleted with the thread without ending."""
        run = self._table.get(thread_pk(thread_id), run_sk(run_id))
        ending = run is not None and not RunStatus(run["status"]).is_terminal
        if run is not None and ending and run.get("quota_slot") is not None:
            give_back_run_slot(self._table, str(run["owner"]), int(run["quota_slot"]), run_id)


def thread_lock_holder(table: DynamoTable, owner: str, thread_id: str) -> str | None:
    """The active run id of this owner's thread (``NotFoundError`` when it is not theirs)."""
    item: dict[str, Any] | None = table.get(thread_pk(thread_id), THREAD_SK)
    if item is None or item.get("owner") != owner:
        raise NotFoundError("thread", thread_id)
    holder = item.get("active_run_id")
    return str(holder) if holder else None
