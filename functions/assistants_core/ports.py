"""Ports: what the services need from storage and queues. Adapters in ``adapters/`` implement them.

Every method that reads a tenant's object takes ``owner`` and raises ``NotFoundError`` for another tenant's
object. Every status write is a conditional write; a lost race raises ``ConflictError`` (or returns None
where documented). Adapters translate botocore ``ClientError`` codes into ``domain.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from assistants_core.domain.models import Assistant, Message, Page, PageRequest, Run, RunStep, Thread
from assistants_core.domain.run_events import NewRunEvent, RunEvent
from assistants_core.domain.status import RunStatus


class AssistantRepository(Protocol):
    def put_assistant(self, assistant: Assistant) -> None: ...
    def get_assistant(self, owner: str, assistant_id: str) -> Assistant: ...
    def replace_assistant(self, assistant: Assistant) -> None:
        """Overwrite an existing assistant (condition: exists with the same owner)."""

    def delete_assistant(self, owner: str, assistant_id: str) -> None: ...
    def list_assistants(self, owner: str, page: PageRequest) -> Page[Assistant]: ...


class ThreadRepository(Protocol):
    def create_thread(self, thread: Thread, messages: list[Message]) -> None:
        """Put the thread and its initial messages in one transaction (nothing is written on failure)."""

    def get_thread(self, owner: str, thread_id: str) -> Thread: ...
    def replace_thread_fields(self, thread: Thread) -> None:
        """Write ``metadata`` and ``tool_resources`` of an existing thread of this owner."""

    def set_tool_resources(self, thread: Thread, previous: dict[str, Any] | None) -> bool:
        """Write ``thread.tool_resources`` iff the stored ones still equal ``previous`` (else False)."""

    def delete_thread(self, owner: str, thread_id: str) -> None:
        """Delete the thread, its messages, runs, steps and S3 bodies."""


class MessageRepository(Protocol):
    def add_message(self, message: Message) -> None:
        """Put a message; condition: the thread exists for this owner and has no active run
        (``ThreadBusyError`` otherwise)."""

    def get_message(self, owner: str, thread_id: str, message_id: str) -> Message: ...
    def replace_message_metadata(self, message: Message) -> None: ...
    def delete_message(self, owner: str, thread_id: str, message_id: str) -> None: ...
    def list_messages(
        self, owner: str, thread_id: str, page: PageRequest, *, run_id: str | None = None
    ) -> Page[Message]: ...
    def list_thread_messages(self, thread_id: str) -> list[Message]:
        """Every message of a thread, oldest first, bodies resolved."""

    def list_newest_thread_messages(
        self, thread_id: str, limit: int, *, older_than: str | None = None
    ) -> list[Message]:
        """Up to ``limit`` messages of a thread, newest first, older than the message ``older_than`` when
        given, bodies resolved: the worker reads only as far back as a prompt can hold."""


class RunRepository(Protocol):
    def create_run(
        self, run: Run, additional_messages: list[Message], *, new_thread: Thread | None = None
    ) -> None:
        """One transaction: (optionally put ``new_thread``), lock the thread (``active_run_id`` must
        be absent, else ``ThreadBusyError``), put ``additional_messages`` and the run, and take the tenant's
        active-run slot ``run.quota_slot`` when set (held by another run: ``RunSlotTakenError``)."""

    def get_run(self, owner: str, thread_id: str, run_id: str) -> Run: ...
    def find_run(self, thread_id: str, run_id: str) -> Run | None:
        """Tenant-less read for the worker, sweeper and DLQ consumer."""

    def list_runs(self, owner: str, thread_id: str, page: PageRequest) -> Page[Run]: ...
    def replace_run_metadata(self, run: Run) -> None: ...
    def transition_run(
        self,
        run: Run,
        target: RunStatus,
        *,
        fields: Mapping[str, Any] | None = None,
        step_updates: list[RunStep] | None = None,
    ) -> Run:
        """Move ``run`` to ``target`` iff the table allows ``run.status -> target`` and the stored status is
        still ``run.status`` (compare-and-set: a decision made on an outdated read is refused).

        ``fields`` are Run attribute names to set at the same time (e.g. ``cancelled_at``). A terminal target
        clears ``thread.active_run_id`` and gives back the run's quota slot in the same transaction.
        Returns the updated run; raises ``InvalidRunStateError`` when the move is not allowed or the stored
        status changed (callers read again and decide anew)."""

    def claim_run(
        self, thread_id: str, run_id: str, *, worker_id: str, lease_seconds: int, now: float
    ) -> Run | None:
        """queued -> in_progress (or re-claim of an in_progress run whose lease expired), setting the lease,
        ``started_at`` and ``attempts + 1``. Returns None when someone else holds it or it is no longer
        claimable."""

    def mark_requeued(self, run: Run, *, now: float) -> bool:
        """Record that ``run``'s message is sent again at ``now`` (``enqueued_at``), iff the run is still as
        read (status, attempts, ``enqueued_at``): of two sweepers that read it, only one sends."""
        ...

    def renew_lease(self, run: Run, *, worker_id: str, lease_seconds: int, now: float) -> bool:
        """Extend our lease; False when we lost it (another worker claimed, or the run left in_progress)."""

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
        """One transaction: run -> target (condition: in_progress/cancelling and lease held by ``worker_id``),
        put the assistant ``message`` (``attribute_not_exists``), put ``steps``, clear the thread lock when
        ``target`` is terminal. Raises ``ConflictError`` when the condition fails (duplicate/lost lease)."""

    def mark_streamed(self, run: Run, *, log_seq: int = 0) -> Run | None:
        """Mark ``run`` streamed (its changes are logged as events from now on; ``log_seq``: the log's last
        sequence number, a hint for appends); the run as stored after, None when marked already or gone."""

    def list_steps(self, owner: str, thread_id: str, run_id: str, page: PageRequest) -> Page[RunStep]: ...
    def get_step(self, owner: str, thread_id: str, run_id: str, step_id: str) -> RunStep: ...
    def list_active_runs(self, *, limit: int = 100) -> list[Run]:
        """Non-terminal runs, soonest ``expires_at`` first, from a sparse index (never a scan)."""


class RunEventLog(Protocol):
    """The per-run ordered stream event log (``domain.run_events``)."""

    def append(
        self,
        thread_id: str,
        run_id: str,
        events: Sequence[NewRunEvent],
        *,
        new_log: bool = False,
        last_seq_hint: int | None = None,
    ) -> int:
        """Append ``events`` in order, all or nothing, with the next sequence numbers (1, 2, ...) of the run;
        returns the last sequence number written. Concurrent writers never fork the log: a sequence number
        is written at most once. ``new_log``: the caller just created the run, so the log is (most likely)
        empty; ``last_seq_hint``: the log's last sequence number at some earlier time (the end of an append,
        e.g. ``Run.stream_log_seq``); either way the tail need not be read first (a stale hint costs a
        refused write and a read)."""

    def read(self, thread_id: str, run_id: str, *, after_seq: int = 0, limit: int = 100) -> list[RunEvent]:
        """Events with ``seq > after_seq``, oldest first, at most ``limit``."""

    def last_seq(self, thread_id: str, run_id: str) -> int:
        """The sequence number of the newest event (0 when the log is empty)."""


class BodyStore(Protocol):
    """Large message bodies (S3)."""

    def put_body(self, key: str, body: bytes) -> None: ...
    def get_body(self, key: str) -> bytes: ...
    def delete_prefix(self, prefix: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """What a generating worker watches of a stored run (``RunStatusReader``)."""

    status: RunStatus
    lease_owner: str | None
    expires_at: int | None
    stream_log_seq: int | None  # ``Run.stream_log_seq``: set once someone streams the run


class RunStatusReader(Protocol):
    """Batched, strongly consistent reads of many runs' watched fields (one request per 100 runs)."""

    def read_snapshots(self, keys: Sequence[tuple[str, str]]) -> dict[str, RunSnapshot]:
        """``(thread_id, run_id)`` pairs -> snapshot by run id; a run that does not exist is absent."""


@dataclass(frozen=True, slots=True)
class RunRef:
    thread_id: str
    run_id: str


@dataclass(frozen=True, slots=True)
class ReceivedRun:
    ref: RunRef
    receipt_handle: str
    receive_count: int


class RunQueue(Protocol):
    """Producer side of the run queue (API, sweeper)."""

    def enqueue_run(self, ref: RunRef, *, delay_seconds: int = 0) -> None: ...


class RunQueueConsumer(Protocol):
    """Consumer side of the run queue (worker)."""

    def receive_runs(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedRun]: ...
    def delete_run_message(self, receipt_handle: str) -> None: ...
    def delete_run_messages(self, receipt_handles: Sequence[str]) -> list[str]:
        """Delete up to 10 messages in one request; the receipt handles that were not deleted."""

    def extend_visibility(self, receipt_handle: str, seconds: int) -> None: ...
    def approximate_depth(self) -> int: ...


class Clock(Protocol):
    def now(self) -> float: ...


class WorkerPresence(Protocol):
    """Whether a queue consumer is live, and the one-item debounce of worker wakes (DynamoDB)."""

    def mark_consumer_alive(self, until: float) -> None:
        """A consumer is receiving and will check in again before ``until``."""

    def claim_wake(self, now: float, debounce_seconds: float) -> bool:
        """Record "wake requested at ``now``" unless a consumer is live or a wake was recorded within
        ``debounce_seconds`` (one conditional write); True when this caller must wake the worker."""


class WorkerSpawner(Protocol):
    """Starts one queue consumer (Modal in the cloud; a stand-in in the local stack)."""

    def spawn_consumer(self) -> None: ...


@dataclass(frozen=True, slots=True)
class QuotaSlot:
    """A holder of a leased per-tenant slot (an open stream) until ``expires_at`` (epoch s)."""

    slot_id: str
    expires_at: int
    note: str = ""


class TenantQuotaStore(Protocol):
    """Per-tenant counters shared by every API instance (services/quotas.py)."""

    def count_request(
        self, tenant: str, window_start: int, *, limit: int, expires_at: int, amount: int = 1
    ) -> bool:
        """Add ``amount`` requests to the window's counter unless that would pass ``limit``."""

    def acquire_slot(self, tenant: str, kind: str, slot: QuotaSlot, *, limit: int) -> bool: ...
    def release_slot(self, tenant: str, kind: str, slot_id: str) -> None: ...
    def slots(self, tenant: str, kind: str) -> list[QuotaSlot]: ...
    def remove_slots(self, tenant: str, kind: str, slot_ids: list[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class HeldRunSlot:
    """One of a tenant's active-run slots, held by ``run_id`` (whose ``expires_at`` it records)."""

    index: int
    run_id: str
    thread_id: str
    expires_at: int


class RunSlotStore(Protocol):
    """The tenant's held active-run slots (taken and given back inside the run's own transactions)."""

    def held_run_slots(self, tenant: str) -> list[HeldRunSlot]: ...
    def remove_run_slot(self, tenant: str, slot: HeldRunSlot) -> None: ...


class RunAdmission(Protocol):
    """Admits a new run under the tenant's active-run quota."""

    def create_admitted(
        self,
        run: Run,
        write: Callable[[], None],
        *,
        before_write: Callable[[], None] | None = None,
        read_first: bool = False,
    ) -> None:
        """Set ``run.quota_slot`` to a free slot of its tenant (None when the quota is off) and call ``write``
        (the run's create transaction, which takes that slot); while ``write`` raises
        ``RunSlotTakenError``, again with another free slot. ``before_write`` runs once, before the first
        ``write``; ``read_first``: it writes, so the held slots are read before it (a full tenant is refused
        before anything is written). Raises ``QuotaExceededError`` when no slot is free."""
