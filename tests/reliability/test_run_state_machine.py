"""Property: the run state machine as DynamoDB stores it (the real ``DynamoRunRepository`` on moto).

A hypothesis state machine drives one thread through runs with every write the system makes (the API's and
the sweeper's ``transition_run``, the worker's ``claim_run`` / ``renew_lease`` / ``finish_run``, and
``create_run`` for the thread's next run), each aimed at any status, by any of two workers, before or after
the lease ends. After every step:
- a status write succeeded iff ``domain/status.py``'s table allows it from the stored status (the worker's
  writes additionally need the lease, the claim an expired lease to take an in_progress run over);
- a rejected write changed nothing (run and thread items byte for byte);
- the thread lock is held (by this run) iff the run is active, and so is the run's active-run index entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from assistants_core.adapters.dynamodb import DynamoRunRepository, DynamoTable, DynamoThreadRepository
from assistants_core.adapters.dynamodb.items import THREAD_SK, run_sk, thread_pk
from assistants_core.domain.errors import ConflictError, InvalidRunStateError, ThreadBusyError
from assistants_core.domain.models import Run
from assistants_core.domain.status import ACTIVE_STATUSES, ALLOWED_TRANSITIONS, RunStatus, sources_for
from tests.contract.factories import make_run, make_thread, now

WORKERS = ("worker-a", "worker-b")
WORKER_STATUSES = frozenset({RunStatus.IN_PROGRESS, RunStatus.CANCELLING})
LEASE_SECONDS = 60
STATE_MACHINE_SETTINGS = settings(
    max_examples=30, stateful_step_count=15, deadline=None, derandomize=True, database=None
)

statuses = st.sampled_from(list(RunStatus))
workers = st.sampled_from(WORKERS)


@dataclass
class ExpectedRun:
    """What the table says the stored run must look like."""

    run: Run
    status: RunStatus = RunStatus.QUEUED
    lease_owner: str | None = None
    lease_expires_at: float | None = None

    def holds_lease(self, worker: str) -> bool:
        return self.status in WORKER_STATUSES and self.lease_owner == worker

    def claimable_at(self, moment: float) -> bool:
        if self.status == RunStatus.QUEUED:
            return True
        lease_over = self.lease_expires_at is not None and self.lease_expires_at < moment
        return self.status == RunStatus.IN_PROGRESS and lease_over


def run_lifecycle(table: DynamoTable, threads: DynamoThreadRepository, runs: DynamoRunRepository) -> type:
    class RunLifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.thread = make_thread()
            threads.create_thread(self.thread, [])
            self.expected = self._create_run()

        # -- helpers --------------------------------------------------------------------------------------
        def _create_run(self) -> ExpectedRun:
            run = make_run(self.thread)
            runs.create_run(run, [])
            return ExpectedRun(run)

        def _items(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            run_id = self.expected.run.id
            return table.get(thread_pk(self.thread.id), run_sk(run_id)), table.get(
                thread_pk(self.thread.id), THREAD_SK
            )

        def _moment(self, after_lease_end: bool) -> float:
            lease_end = self.expected.lease_expires_at
            if lease_end is None:
                return float(now())
            return lease_end + 1 if after_lease_end else lease_end - 1

        def _moved(self, target: RunStatus) -> None:
            assert self.expected.status.can_become(target), f"{self.expected.status} -> {target} was accepted"
            self.expected.status = target

        def _draw_status(self, data: st.DataObject) -> RunStatus:
            """Half the time a status the table allows next (else most writes would just be rejected)."""
            allowed = sorted(ALLOWED_TRANSITIONS[self.expected.status])
            status: RunStatus = data.draw(st.sampled_from(allowed) | statuses if allowed else statuses)
            return status

        def _draw_worker(self, data: st.DataObject) -> str:
            """Half the time the lease holder (when there is one), else any worker."""
            holder = self.expected.lease_owner
            worker: str = data.draw(st.just(holder) | workers if holder else workers)
            return worker

        # -- rules: every write, aimed anywhere -----------------------------------------------------------
        @rule(data=st.data())
        def transition(self, data: st.DataObject) -> None:
            """The API (cancel, tool outputs) and the sweeper (expire, cancel, fail), deciding on the status
            they read: the current one, or (half the time) any status, possibly an outdated read."""
            status = self._draw_status(data)
            read: RunStatus = data.draw(st.just(self.expected.status) | statuses)
            before = self._items()
            try:
                runs.transition_run(replace(self.expected.run, status=read), status)
            except InvalidRunStateError:
                assert read != self.expected.status or not read.can_become(status)
                assert self._items() == before
                return
            assert read == self.expected.status, f"a write decided on an outdated read ({read}) was accepted"
            self._moved(status)

        @rule(worker=workers, after_lease_end=st.booleans())
        def claim(self, worker: str, after_lease_end: bool) -> None:
            moment = self._moment(after_lease_end)
            before = self._items()
            run = self.expected.run
            claimed = runs.claim_run(
                run.thread_id, run.id, worker_id=worker, lease_seconds=LEASE_SECONDS, now=moment
            )
            assert (claimed is not None) == self.expected.claimable_at(moment)
            if claimed is None:
                assert self._items() == before
                return
            self._moved(RunStatus.IN_PROGRESS)
            self.expected.lease_owner, self.expected.lease_expires_at = worker, moment + LEASE_SECONDS

        @rule(data=st.data())
        def renew_lease(self, data: st.DataObject) -> None:
            worker = self._draw_worker(data)
            moment = self._moment(after_lease_end=False)
            before = self._items()
            renewed = runs.renew_lease(
                self.expected.run, worker_id=worker, lease_seconds=LEASE_SECONDS, now=moment
            )
            assert renewed == self.expected.holds_lease(worker)
            if renewed:
                self.expected.lease_expires_at = moment + LEASE_SECONDS
            else:
                assert self._items() == before

        @rule(data=st.data())
        def finish(self, data: st.DataObject) -> None:
            """The worker's final write (condition: the table, and our lease)."""
            worker = self._draw_worker(data)
            status = self._draw_status(data)
            before = self._items()
            allowed = self.expected.holds_lease(worker) and self.expected.status in sources_for(status)
            try:
                runs.finish_run(
                    self.expected.run, status, fields={}, worker_id=worker, message=None, steps=[]
                )
            except (ConflictError, InvalidRunStateError):
                assert not allowed
                assert self._items() == before
                return
            assert allowed
            self._moved(status)

        @rule()
        def start_next_run(self) -> None:
            """The thread's next run: only once this one is over."""
            before = self._items()
            try:
                next_run = self._create_run()
            except ThreadBusyError:
                assert self.expected.status in ACTIVE_STATUSES
                assert self._items() == before
                return
            assert self.expected.status not in ACTIVE_STATUSES
            self.expected = next_run

        # -- what must hold after every step --------------------------------------------------------------
        @invariant()
        def stored_run_is_the_expected_one(self) -> None:
            stored = runs.find_run(self.thread.id, self.expected.run.id)
            assert stored is not None
            assert stored.status == self.expected.status
            assert (stored.lease_owner, stored.lease_expires_at) == (
                self.expected.lease_owner,
                self.expected.lease_expires_at,
            )

        @invariant()
        def thread_lock_held_iff_run_active(self) -> None:
            run_item, _ = self._items()
            active = self.expected.status in ACTIVE_STATUSES
            lock = threads.get_thread(self.thread.owner, self.thread.id).active_run_id
            assert lock == (self.expected.run.id if active else None)
            assert run_item is not None and ("GSI2PK" in run_item) == active

    return RunLifecycle


def test_every_run_write_follows_the_transition_table(
    dynamo_table: DynamoTable, thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository
) -> None:
    # The machines share one moto table; each example works on its own thread.
    machine = run_lifecycle(dynamo_table, thread_repo, run_repo)
    run_state_machine_as_test(machine, settings=STATE_MACHINE_SETTINGS)
