"""Runs ``THREAD#<tid>`` / ``RUN#<id>`` and their steps ``STEP#<run_id>#<step_id>`` (ports.RunRepository).

Every status write is conditional on the stored status: ``transition_run`` on the status the caller read
(compare-and-set, the move allowed by ``status.ALLOWED_TRANSITIONS``), the worker's ``finish_run`` on its
lease and ``status.sources_for``; a non-terminal run sits in
the sparse GSI2 (``ACTIVE_RUN``) and every terminal transition removes it from there, releases the thread
lock and gives back the run's active-run quota slot (``run_slots``) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from assistants_core.adapters.dynamodb.index_reads import indexed_items
from assistants_core.adapters.dynamodb.items import (
    ACTIVE_RUN_PARTITION,
    ACTIVE_RUNS_INDEX,
    RUN_PREFIX,
    THREAD_SK,
    active_run_sort_key,
    encode_field,
    run_field,
    run_from_item,
    run_sk,
    run_to_item,
    step_from_item,
    step_to_item,
    steps_prefix,
    thread_pk,
    thread_to_item,
)
from assistants_core.adapters.dynamodb.message_bodies import (
    forget_uploaded_bodies,
    store_message_item,
    store_message_items,
)
from assistants_core.adapters.dynamodb.messages import unlocked_thread_condition
from assistants_core.adapters.dynamodb.run_slots import give_back_run_slot_op, take_run_slot_op
from assistants_core.adapters.dynamodb.table import (
    MAX_TRANSACTION_ITEMS,
    DynamoTable,
    Expression,
    Item,
    absent_condition,
    owned_condition,
)
from assistants_core.adapters.dynamodb.threads import thread_lock_holder
from assistants_core.adapters.errors import ConditionFailedError, TransactionCancelledError
from assistants_core.domain.errors import (
    ConflictError,
    InvalidRequestError,
    InvalidRunStateError,
    NotFoundError,
    RunSlotTakenError,
    ThreadBusyError,
)
from assistants_core.domain.models import Message, Page, PageRequest, Run, RunStep, Thread
from assistants_core.domain.reply_steps import (
    derived_reply_step,
    fold_reply_step,
    plain_reply_step_id,
    with_derived_step,
)
from assistants_core.domain.status import RunStatus, sources_for

_WORKER_STATUSES = frozenset({RunStatus.IN_PROGRESS, RunStatus.CANCELLING})
_VERBS = {
    RunStatus.CANCELLING: "cancel",
    RunStatus.CANCELLED: "cancel",
    RunStatus.EXPIRED: "expire",
    RunStatus.FAILED: "fail",
    RunStatus.COMPLETED: "complete",
    RunStatus.INCOMPLETE: "complete",
    RunStatus.IN_PROGRESS: "start",
    RunStatus.QUEUED: "queue",
    RunStatus.REQUIRES_ACTION: "suspend",
}


def _status_in(expression: Expression, statuses: frozenset[RunStatus]) -> str:
    return (
        f"{expression.name('status')} IN {expression.values_in(sorted(status.value for status in statuses))}"
    )


def _run_update(run: Run, target: RunStatus, fields: Mapping[str, Any]) -> Expression:
    """The update moving ``run`` to ``target`` with ``fields``. Only a run in ``requires_action`` has a
    ``required_action``: every other target removes it (answered, cancelled, expired, failed)."""
    expression = Expression()
    expression.set("status", target.value)
    keeps_action = target is RunStatus.REQUIRES_ACTION
    for name, value in fields.items():
        if name != "status" and (keeps_action or name != "required_action"):
            expression.set(name, run_field(name, value))
    if not keeps_action:
        expression.remove("required_action")
    if target.is_terminal:
        expression.remove("GSI2PK")
        expression.remove("GSI2SK")
    elif "expires_at" in fields:
        expression.set("GSI2SK", active_run_sort_key(run.id, fields["expires_at"]))
    return expression


def _updated_run(run: Run, target: RunStatus, fields: Mapping[str, Any]) -> Run:
    """The run as ``_run_update`` leaves it stored."""
    keeps_action = target is RunStatus.REQUIRES_ACTION
    required_action = fields.get("required_action", run.required_action) if keeps_action else None
    return replace(run, **{**fields, "status": target, "required_action": required_action})


class DynamoRunRepository:
    def __init__(self, table: DynamoTable, *, derive_reply_steps: bool = True) -> None:
        """``derive_reply_steps``: a final write leaves out the plain reply step when reads derive it
        exactly (``domain.reply_steps``); reads derive it whenever a run says so, whatever this is."""
        self._table = table
        self._derive_reply_steps = derive_reply_steps

    # -- creation and reads ---------------------------------------------------------------------------------
    def create_run(
        self, run: Run, additional_messages: list[Message], *, new_thread: Thread | None = None
    ) -> None:
        others = 2 if run.quota_slot is None else 3  # the thread, the run (and its quota slot)
        if len(additional_messages) + others > MAX_TRANSACTION_ITEMS:
            raise InvalidRequestError(
                f"A run can add at most {MAX_TRANSACTION_ITEMS - others} messages.",
                param="additional_messages",
            )
        thread_write = Expression()
        if new_thread is not None:
            locked_thread = thread_to_item(replace(new_thread, active_run_id=run.id))
            operations = [self._table.put_op(locked_thread, thread_write, absent_condition(thread_write))]
        else:
            thread_write.set("active_run_id", run.id)
            condition = unlocked_thread_condition(thread_write, run.owner)
            operations = [self._table.update_op(thread_pk(run.thread_id), THREAD_SK, thread_write, condition)]
        message_items = store_message_items(self._table, additional_messages)
        for item in [*message_items, run_to_item(run)]:
            put = Expression()
            operations.append(self._table.put_op(item, put, absent_condition(put)))
        if run.quota_slot is not None:
            operations.append(take_run_slot_op(self._table, run, run.quota_slot))
        try:
            self._table.transact(operations)
        except TransactionCancelledError as cancelled:
            forget_uploaded_bodies(self._table, message_items)
            if cancelled.failed(0) and new_thread is None:
                holder = thread_lock_holder(self._table, run.owner, run.thread_id)
                raise ThreadBusyError(run.thread_id, holder, action="create runs on") from None
            if run.quota_slot is not None and cancelled.failed_indexes == [len(operations) - 1]:
                raise RunSlotTakenError(f"Active-run slot {run.quota_slot} is held by another run.") from None
            raise ConflictError("A thread, message or run with the same id already exists.") from None
        except Exception:
            forget_uploaded_bodies(self._table, message_items)
            raise

    def get_run(self, owner: str, thread_id: str, run_id: str) -> Run:
        run = self.find_run(thread_id, run_id)
        if run is None or run.owner != owner:
            raise NotFoundError("run", run_id)
        return run

    def find_run(self, thread_id: str, run_id: str) -> Run | None:
        item = self._table.get(thread_pk(thread_id), run_sk(run_id))
        return run_from_item(item) if item else None

    def list_runs(self, owner: str, thread_id: str, page: PageRequest) -> Page[Run]:
        thread_lock_holder(self._table, owner, thread_id)  # 404 unless the thread is this owner's
        items, has_more = self._table.list_page(
            partition=("PK", thread_pk(thread_id)), sort_attribute="SK", prefix=RUN_PREFIX, page=page
        )
        return Page(data=[run_from_item(item) for item in items], has_more=has_more)

    def replace_run_metadata(self, run: Run) -> None:
        expression = Expression()
        expression.set("metadata", encode_field("metadata", run.metadata, frozenset()))
        try:
            self._table.update(
                thread_pk(run.thread_id), run_sk(run.id), expression, owned_condition(expression, run.owner)
            )
        except ConditionFailedError:
            raise NotFoundError("run", run.id) from None

    # -- status transitions ---------------------------------------------------------------------------------
    def transition_run(
        self,
        run: Run,
        target: RunStatus,
        *,
        fields: Mapping[str, Any] | None = None,
        step_updates: list[RunStep] | None = None,
    ) -> Run:
        fields = dict(fields or {})
        if not run.status.can_become(target):
            raise InvalidRunStateError(f"Cannot {_VERBS[target]} run with status '{run.status}'.")
        expression = _run_update(run, target, fields)
        # Compare-and-set on the status the caller read and decided on: a run that moved since (claimed,
        # finished, suspended) is not changed on the strength of an outdated read; the caller reads again.
        unchanged = f"{expression.name('status')} = {expression.value(run.status.value)}"
        condition = f"{owned_condition(expression, run.owner)} AND {unchanged}"
        if not target.is_terminal and not step_updates:
            try:
                updated = self._table.update(
                    thread_pk(run.thread_id), run_sk(run.id), expression, condition, return_new=True
                )
            except ConditionFailedError:
                raise self._invalid_state(run, target) from None
            return run_from_item(updated)
        operations = [self._table.update_op(thread_pk(run.thread_id), run_sk(run.id), expression, condition)]
        operations += [self._table.put_op(step_to_item(step), Expression()) for step in step_updates or []]
        try:
            self._transact_releasing_lock(operations, run, release=target.is_terminal)
        except TransactionCancelledError as cancelled:
            if cancelled.failed(0):
                raise self._invalid_state(run, target) from None
            raise ConflictError(f"Run '{run.id}' was changed concurrently; please retry.") from None
        return _updated_run(run, target, fields)

    def claim_run(
        self, thread_id: str, run_id: str, *, worker_id: str, lease_seconds: int, now: float
    ) -> Run | None:
        expression = Expression()
        status = expression.name("status")
        queued = f"{status} = {expression.value(RunStatus.QUEUED.value)}"
        lease_expired = (
            f"{status} = {expression.value(RunStatus.IN_PROGRESS.value)}"
            f" AND {expression.name('lease_expires_at')} < {expression.value(now)}"
        )
        expression.set("status", RunStatus.IN_PROGRESS.value)
        expression.set("lease_owner", worker_id)
        expression.set("lease_expires_at", now + lease_seconds)
        started_at, attempts = expression.name("started_at"), expression.name("attempts")
        expression.set_clause(f"{started_at} = if_not_exists({started_at}, {expression.value(int(now))})")
        expression.set_clause(
            f"{attempts} = if_not_exists({attempts}, {expression.value(0)}) + {expression.value(1)}"
        )
        try:
            item = self._table.update(
                thread_pk(thread_id),
                run_sk(run_id),
                expression,
                f"{queued} OR ({lease_expired})",
                return_new=True,
            )
        except ConditionFailedError:
            return None
        return run_from_item(item)

    def mark_requeued(self, run: Run, *, now: float) -> bool:
        def still_as_read(expression: Expression) -> str:
            enqueued_at = expression.name("enqueued_at")
            sent_before = (
                f"attribute_not_exists({enqueued_at})"
                if run.enqueued_at is None
                else f"{enqueued_at} = {expression.value(run.enqueued_at)}"
            )
            return (
                f"{expression.name('status')} = {expression.value(run.status.value)}"
                f" AND {expression.name('attempts')} = {expression.value(run.attempts)} AND {sent_before}"
            )

        return self._set_field_if(run, "enqueued_at", now, still_as_read)

    def renew_lease(self, run: Run, *, worker_id: str, lease_seconds: int, now: float) -> bool:
        """Extend our lease (and ``run.lease_expires_at``); False when the lease is no longer ours."""

        def ours(expression: Expression) -> str:
            return (
                f"{_status_in(expression, _WORKER_STATUSES)}"
                f" AND {expression.name('lease_owner')} = {expression.value(worker_id)}"
            )

        return self._set_field_if(run, "lease_expires_at", now + lease_seconds, ours)

    def mark_streamed(self, run: Run, *, log_seq: int = 0) -> Run | None:
        """Record that someone streams ``run`` (from now on its changes are logged as events); the run as
        stored right after, or None when it was marked already (or is gone)."""
        expression = Expression()
        expression.set("stream_log_seq", log_seq)
        marked = f"attribute_exists({expression.name('status')})"
        marked += f" AND attribute_not_exists({expression.name('stream_log_seq')})"
        try:
            item = self._table.update(
                thread_pk(run.thread_id), run_sk(run.id), expression, marked, return_new=True
            )
        except ConditionFailedError:
            return None
        return run_from_item(item)

    def _set_field_if(
        self, run: Run, name: str, value: float, condition: Callable[[Expression], str]
    ) -> bool:
        """Set one run attribute (stored and on ``run``) iff ``condition`` holds; False when it does not."""
        expression = Expression()
        expression.set(name, value)
        try:
            self._table.update(thread_pk(run.thread_id), run_sk(run.id), expression, condition(expression))
        except ConditionFailedError:
            return False
        setattr(run, name, value)
        return True

    def finish_run(
        self,
        run: Run,
        target: RunStatus,
        *,
        fields: Mapping[str, Any],
        worker_id: str,
        message: Message | None,
        steps: list[RunStep],
    ) -> Run:
        sources = sources_for(target) & _WORKER_STATUSES
        if not sources:
            raise InvalidRunStateError(f"Cannot {_VERBS[target]} run with status '{run.status}'.")
        if self._derive_reply_steps:
            fields, steps = fold_reply_step(run, target, fields, steps)
        expression = _run_update(run, target, fields)
        condition = (
            f"{_status_in(expression, sources)}"
            f" AND {expression.name('lease_owner')} = {expression.value(worker_id)}"
        )
        if not run.streamed:
            # Written without stream events: refused if a reader attached meanwhile (the caller re-reads).
            condition += f" AND attribute_not_exists({expression.name('stream_log_seq')})"
        operations = [self._table.update_op(thread_pk(run.thread_id), run_sk(run.id), expression, condition)]
        message_items = [store_message_item(self._table, message)] if message is not None else []
        for item in message_items:
            put = Expression()
            operations.append(self._table.put_op(item, put, absent_condition(put)))
        operations += [self._table.put_op(step_to_item(step), Expression()) for step in steps]
        try:
            self._transact_releasing_lock(operations, run, release=target.is_terminal)
        except TransactionCancelledError:
            forget_uploaded_bodies(self._table, message_items)
            raise ConflictError(f"Run '{run.id}' is no longer held by worker '{worker_id}'.") from None
        except Exception:
            forget_uploaded_bodies(self._table, message_items)
            raise
        return _updated_run(run, target, fields)

    def _transact_releasing_lock(self, operations: list[dict[str, Any]], run: Run, *, release: bool) -> None:
        """Run ``operations``; when ``release`` (the run ends), also clear the thread lock and give back the
        run's quota slot. One of those that is no longer this run's (the sweeper released the lock, a stale
        slot was removed) does not block the rest: the transaction is tried again without it."""
        releases = []
        if release:
            unlock = Expression()
            unlock.remove("active_run_id")
            held = f"{unlock.name('active_run_id')} = {unlock.value(run.id)}"
            releases.append(self._table.update_op(thread_pk(run.thread_id), THREAD_SK, unlock, held))
            if run.quota_slot is not None:
                releases.append(give_back_run_slot_op(self._table, run, run.quota_slot))
        while True:
            try:
                self._table.transact([*operations, *releases])
                return
            except TransactionCancelledError as cancelled:
                failed = cancelled.failed_indexes
                if not failed or min(failed) < len(operations):
                    raise
                gone = {index - len(operations) for index in failed}
                releases = [op for index, op in enumerate(releases) if index not in gone]

    def _invalid_state(self, run: Run, target: RunStatus) -> Exception:
        current = self.find_run(run.thread_id, run.id)
        if current is None or current.owner != run.owner:
            return NotFoundError("run", run.id)
        return InvalidRunStateError(f"Cannot {_VERBS[target]} run with status '{current.status}'.")

    # -- steps and the active-run index ---------------------------------------------------------------------
    def list_steps(self, owner: str, thread_id: str, run_id: str, page: PageRequest) -> Page[RunStep]:
        run = self.get_run(owner, thread_id, run_id)  # 404 unless the run is this owner's
        items, has_more = self._table.list_page(
            partition=("PK", thread_pk(thread_id)),
            sort_attribute="SK",
            prefix=steps_prefix(run_id),
            page=page,
        )
        stored = Page(data=[step_from_item(item) for item in items], has_more=has_more)
        return with_derived_step(stored, derived_reply_step(run), page)

    def get_step(self, owner: str, thread_id: str, run_id: str, step_id: str) -> RunStep:
        item: Item | None = self._table.get(thread_pk(thread_id), steps_prefix(run_id) + step_id)
        if item is None and step_id == plain_reply_step_id(run_id):
            run = self.find_run(thread_id, run_id)  # read only when no such step is stored
            derived = derived_reply_step(run) if run is not None and run.owner == owner else None
            if derived is not None:
                return derived
        if item is None or item.get("owner") != owner:
            raise NotFoundError("run step", step_id)
        return step_from_item(item)

    def list_active_runs(self, *, limit: int = 100) -> list[Run]:
        """The non-terminal runs, soonest expiry first. GSI2 projects keys only (an update of a run that
        keeps it in the index, a claim or a lease renewal, writes no index entry): the runs are read by key,
        eventually consistent (every decision on them is a conditional write)."""
        entries = self._table.query(
            partition=("GSI2PK", ACTIVE_RUN_PARTITION),
            sort_attribute="GSI2SK",
            prefix="",
            want=limit,
            index=ACTIVE_RUNS_INDEX,
        )
        return [run_from_item(item) for item in indexed_items(self._table, entries)]
