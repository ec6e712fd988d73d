"""Issue 10, security 2 + 3: per-tenant quotas over the real DynamoDB adapter (moto), with a fake clock:
request windows, active-run slots taken and given back in the runs' own transactions (issue 11), open-stream
slots given back when a stream ends and freed when their lease expired (a Lambda that died mid-stream)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from assistants_core.adapters.dynamodb import (
    DynamoRunRepository,
    DynamoRunSlotStore,
    DynamoTable,
    DynamoTenantQuotaStore,
    DynamoThreadRepository,
)
from assistants_core.adapters.dynamodb.quotas import requests_sk, tenant_pk
from assistants_core.adapters.dynamodb.run_slots import RUN_SLOT_PREFIX
from assistants_core.domain.errors import NotFoundError, QuotaExceededError, StorageError
from assistants_core.domain.models import Run
from assistants_core.domain.status import RunStatus
from assistants_core.services import quotas as quotas_module
from assistants_core.services.quotas import RUN_LEASE_SLACK_SECONDS, STREAMS, TenantQuotas
from assistants_core.services.run_stream import RunStreamService
from tests.contract.factories import OWNER, make_run, make_thread
from tests.unit.services.conftest import FixedClock
from tests.unit.services.test_run_stream import FakeRuns, FakeTime, ListLog

START = 1_750_000_040.0  # 20 s into a minute (1_750_000_020 is a multiple of 60)


def quotas(table: DynamoTable, clock: FixedClock, **limits: int) -> TenantQuotas:
    settings = {"requests_per_minute": 3, "max_active_runs": 2, "max_open_streams": 2, **limits}
    return TenantQuotas(
        DynamoTenantQuotaStore(table), DynamoRunSlotStore(table), clock, stream_lease_seconds=100, **settings
    )


def held_slots(table: DynamoTable, tenant: str) -> dict[int, str]:
    """The tenant's held active-run slots as stored: index -> run id."""
    return {slot.index: slot.run_id for slot in DynamoRunSlotStore(table).held_run_slots(tenant)}


def create(limiter: TenantQuotas, runs: DynamoRunRepository, run: Run, *, thread_exists: bool = False) -> Run:
    """The run written as services/runs.py writes it, under the quota (with its new thread, unless the
    thread exists)."""
    thread = None if thread_exists else make_thread(id=run.thread_id, owner=run.owner)
    limiter.create_admitted(run, lambda: runs.create_run(run, [], new_thread=thread))
    return run


def test_requests_per_minute_in_a_fixed_window(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository
) -> None:
    clock = FixedClock(START)
    limiter = quotas(dynamo_table, clock)
    for _ in range(3):
        limiter.admit_request("acme")
    with pytest.raises(QuotaExceededError) as refused:
        limiter.admit_request("acme")
    assert refused.value.retry_after_seconds == 40  # the window ends 40 s later
    assert refused.value.code == "rate_limit_exceeded" and "Limit 3" in refused.value.message
    limiter.admit_request("other")  # per tenant
    # The rest of a used-up window is refused by this instance without another write.
    writes = DynamoTenantQuotaStore.count_request
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoTenantQuotaStore, "count_request", lambda *a, **k: pytest.fail("wrote"))
        with pytest.raises(QuotaExceededError):
            limiter.admit_request("acme")
    assert DynamoTenantQuotaStore.count_request is writes
    window = dynamo_table.get(tenant_pk("acme"), requests_sk(1_750_000_020))
    assert window is not None and window["n"] == 3  # the refused one is not counted
    assert window["ttl"] > START + 60  # DynamoDB's TTL removes old windows
    clock.current = START + 40.5  # the next window
    limiter.admit_request("acme")


def test_instances_take_blocks_of_requests_and_never_pass_the_limit_together(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: a request costs a write only once per block (limit 100 -> blocks of 5). Two instances
    taking blocks of one tenant's window admit exactly the limit between them (near the limit they take
    single requests), and the table's counter never passes it."""
    clock = FixedClock(START)
    first, second = (quotas(dynamo_table, clock, requests_per_minute=100, request_block=10) for _ in range(2))
    writes: list[int] = []
    count_request = DynamoTenantQuotaStore.count_request

    def counted(self: DynamoTenantQuotaStore, *args: Any, **kwargs: Any) -> bool:
        writes.append(kwargs["amount"])
        return count_request(self, *args, **kwargs)

    monkeypatch.setattr(DynamoTenantQuotaStore, "count_request", counted)
    for _ in range(12):
        first.admit_request("acme")
    assert writes == [5, 5, 5]  # 12 requests, three writes of a block of 5
    admitted, refused = 12, set()
    for turn in range(400):
        instance = (first, second)[turn % 2]
        try:
            instance.admit_request("acme")
            admitted += 1
        except QuotaExceededError:
            refused.add(id(instance))
        if len(refused) == 2:
            break
    window = dynamo_table.get(tenant_pk("acme"), requests_sk(1_750_000_020))
    assert window is not None and window["n"] == 100
    assert admitted == 100  # every request either instance took was used
    assert len(writes) < 40 and 1 in writes  # blocks, then single requests near the limit


def test_blocks_taken_at_once_by_two_threads_are_both_used(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads of one instance take a block each at the same moment (here: one inside the other's
    write): neither block's unused requests are forgotten."""
    limiter = quotas(dynamo_table, FixedClock(START), requests_per_minute=100, request_block=10)
    count_request = DynamoTenantQuotaStore.count_request
    writes: list[int] = []

    def racing(self: DynamoTenantQuotaStore, *args: Any, **kwargs: Any) -> bool:
        writes.append(kwargs["amount"])
        if len(writes) == 1:
            limiter.admit_request("acme")  # the other thread, while this write is in flight
        return count_request(self, *args, **kwargs)

    monkeypatch.setattr(DynamoTenantQuotaStore, "count_request", racing)
    limiter.admit_request("acme")
    assert writes == [5, 5]
    for _ in range(8):  # 10 taken, 2 used: 8 left without another write
        limiter.admit_request("acme")
    assert writes == [5, 5]
    limiter.admit_request("acme")
    assert writes == [5, 5, 5]


def test_a_limit_of_zero_turns_a_quota_off(dynamo_table: DynamoTable, run_repo: DynamoRunRepository) -> None:
    limiter = quotas(
        dynamo_table,
        FixedClock(START),
        requests_per_minute=0,
        max_active_runs=0,
        max_open_streams=0,
    )
    for _ in range(10):
        limiter.admit_request("acme")
        run = create(limiter, run_repo, make_run(make_thread()))
        assert run.quota_slot is None
        assert limiter.open_stream("acme") is None
    assert held_slots(dynamo_table, run.owner) == {}


def test_active_runs_are_capped_and_an_ended_run_gives_its_slot_back_in_its_own_write(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, thread_repo: DynamoThreadRepository
) -> None:
    """Issue 11: the slot is one small item per run, taken in the run's create transaction and given back in
    its terminal one: a run ending frees its slot at once, with no read or write of the quota's own."""
    limiter = quotas(dynamo_table, FixedClock(START))
    threads = [make_thread() for _ in range(3)]
    for thread in threads:
        thread_repo.create_thread(thread, [])
    first, second = (create(limiter, run_repo, make_run(t), thread_exists=True) for t in threads[:2])
    assert held_slots(dynamo_table, first.owner) == {first.quota_slot: first.id, second.quota_slot: second.id}
    assert {first.quota_slot, second.quota_slot} == {0, 1}
    third = make_run(threads[2])
    with pytest.raises(QuotaExceededError) as refused:
        create(limiter, run_repo, third, thread_exists=True)
    assert refused.value.retry_after_seconds == 5 and "Limit 2" in refused.value.message
    assert run_repo.find_run(third.thread_id, third.id) is None  # nothing written, the thread is free
    assert thread_repo.get_thread(third.owner, third.thread_id).active_run_id is None
    # The API cancels the first (queued -> cancelled): its slot goes in that same transaction.
    run_repo.transition_run(run_repo.get_run(first.owner, first.thread_id, first.id), RunStatus.CANCELLED)
    assert held_slots(dynamo_table, first.owner) == {second.quota_slot: second.id}
    create(limiter, run_repo, third, thread_exists=True)
    assert held_slots(dynamo_table, first.owner) == {first.quota_slot: third.id, second.quota_slot: second.id}
    # The worker finishes the second: the slot goes with the run's final write.
    claimed = run_repo.claim_run(second.thread_id, second.id, worker_id="w", lease_seconds=60, now=START)
    assert claimed is not None and claimed.quota_slot == second.quota_slot
    run_repo.finish_run(claimed, RunStatus.COMPLETED, fields={}, worker_id="w", message=None, steps=[])
    assert held_slots(dynamo_table, first.owner) == {first.quota_slot: third.id}
    assert thread_repo.get_thread(second.owner, second.thread_id).active_run_id is None


def test_slots_another_instance_holds_cost_a_redraw_then_one_read(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two API instances; the second cannot know the slots the first holds. A draw of one of them costs a
    refused transaction and another draw (no read); a second refusal in a row makes it read the held slots
    once and take a free one; once it believes every slot held it reads again, and answers 429 when they
    are."""
    clock = FixedClock(START)
    one, two = quotas(dynamo_table, clock, max_active_runs=5), quotas(dynamo_table, clock, max_active_runs=5)
    reads: list[str] = []
    held_run_slots = DynamoRunSlotStore.held_run_slots

    def counted(self: DynamoRunSlotStore, tenant: str) -> Any:
        reads.append(tenant)
        return held_run_slots(self, tenant)

    monkeypatch.setattr(DynamoRunSlotStore, "held_run_slots", counted)
    draws = iter([0, 1, 2, 0, 3, 1, 2, 4])
    monkeypatch.setattr(quotas_module.secrets, "randbelow", lambda limit: next(draws))
    assert [create(one, run_repo, make_run(make_thread())).quota_slot for _ in range(3)] == [0, 1, 2]
    assert create(two, run_repo, make_run(make_thread())).quota_slot == 3  # 0 refused, redrawn
    assert reads == []
    assert create(two, run_repo, make_run(make_thread())).quota_slot == 4  # 1 and 2 refused, read
    assert len(reads) == 1
    with pytest.raises(QuotaExceededError):  # believes all five held: reads once, and they are
        create(two, run_repo, make_run(make_thread()))
    assert len(reads) == 2
    assert sorted(held_slots(dynamo_table, OWNER)) == [0, 1, 2, 3, 4]


def test_a_full_tenant_is_refused_before_a_create_writes_anything_of_its_own(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository
) -> None:
    """A create that writes something before the run (a thread's vector store) reads the held slots
    first: a full tenant gets its 429 before that write."""
    limiter = quotas(dynamo_table, FixedClock(START), max_active_runs=1)
    create(limiter, run_repo, make_run(make_thread()))
    other = quotas(dynamo_table, FixedClock(START), max_active_runs=1)  # another instance, knowing nothing
    written: list[str] = []
    thread = make_thread()
    run = make_run(thread)
    with pytest.raises(QuotaExceededError):
        other.create_admitted(
            run,
            lambda: run_repo.create_run(run, [], new_thread=thread),
            before_write=lambda: written.append("store"),
            read_first=True,
        )
    assert written == []


def test_a_slot_whose_run_never_ended_is_removed_once_the_run_is_long_expired(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, thread_repo: DynamoThreadRepository
) -> None:
    """A run item deleted without its terminal write (its thread's delete crashed between the run and the
    slot): its slot blocks the tenant until the run's expiry plus the slack, then a create removes it."""
    clock = FixedClock(START)
    limiter = quotas(dynamo_table, clock, max_active_runs=1)
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    lost = create(limiter, run_repo, make_run(thread, expires_at=int(START) + 600), thread_exists=True)
    dynamo_table.client.delete_item(
        TableName=dynamo_table.table_name,
        Key={"PK": {"S": f"THREAD#{thread.id}"}, "SK": {"S": f"RUN#{lost.id}"}},
    )
    with pytest.raises(QuotaExceededError):
        create(limiter, run_repo, make_run(make_thread()))
    clock.current = START + 600 + RUN_LEASE_SLACK_SECONDS
    fresh = create(limiter, run_repo, make_run(make_thread()))
    assert held_slots(dynamo_table, thread.owner) == {0: fresh.id}


def test_a_run_whose_slot_was_removed_still_ends_and_leaves_the_new_holder_alone(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, thread_repo: DynamoThreadRepository
) -> None:
    """The terminal write of a run whose slot another run holds by now (removed as stale, taken again)
    still ends the run and unlocks its thread; the other run keeps the slot."""
    clock = FixedClock(START)
    limiter = quotas(dynamo_table, clock, max_active_runs=1)
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    old = create(limiter, run_repo, make_run(thread, expires_at=int(START)), thread_exists=True)
    clock.current = START + RUN_LEASE_SLACK_SECONDS  # the old run looks stale (the sweeper is late)
    new = create(limiter, run_repo, make_run(make_thread()))
    assert held_slots(dynamo_table, thread.owner) == {0: new.id}
    run_repo.transition_run(run_repo.get_run(old.owner, old.thread_id, old.id), RunStatus.EXPIRED)
    assert run_repo.get_run(old.owner, old.thread_id, old.id).status == RunStatus.EXPIRED
    assert thread_repo.get_thread(thread.owner, thread.id).active_run_id is None
    assert held_slots(dynamo_table, thread.owner) == {0: new.id}


def test_deleting_a_thread_with_an_active_run_gives_its_slot_back(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, thread_repo: DynamoThreadRepository
) -> None:
    limiter = quotas(dynamo_table, FixedClock(START), max_active_runs=1)
    thread = make_thread()
    thread_repo.create_thread(thread, [])
    create(limiter, run_repo, make_run(thread), thread_exists=True)
    thread_repo.delete_thread(thread.owner, thread.id)
    assert held_slots(dynamo_table, thread.owner) == {}
    create(limiter, run_repo, make_run(make_thread()))


def test_slot_items_are_the_only_quota_items_a_run_leaves(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository
) -> None:
    """One item per held slot under the tenant, nothing else (no counter, no per-tenant list item)."""
    limiter = quotas(dynamo_table, FixedClock(START), max_active_runs=5, requests_per_minute=0)
    run = create(limiter, run_repo, make_run(make_thread()))
    items = dynamo_table.client.scan(TableName=dynamo_table.table_name)["Items"]
    tenant_items = [item["SK"]["S"] for item in items if item["PK"]["S"] == tenant_pk(run.owner)]
    assert tenant_items == [f"{RUN_SLOT_PREFIX}{run.quota_slot}"]


def test_stream_slots_are_given_back_when_a_stream_ends_or_its_lease_expired(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository
) -> None:
    clock = FixedClock(START)
    limiter = quotas(dynamo_table, clock)
    thread = make_thread()
    run = make_run(thread, status=RunStatus.COMPLETED, stream_log_seq=0)
    log = ListLog([("thread.run.created", 1), ("thread.run.completed", 1)])
    fake_runs = FakeRuns(run)
    time = FakeTime()
    service = RunStreamService(
        fake_runs,  # type: ignore[arg-type]
        fake_runs,  # type: ignore[arg-type]
        log,
        sleep=time.sleep,
        monotonic=time.monotonic,
        quotas=limiter,
    )

    def held() -> int:
        return len(DynamoTenantQuotaStore(dynamo_table).slots(thread.owner, STREAMS))

    first = service.stream_after(thread.owner, thread.id, run.id, 0)  # the slot is taken before any byte
    second = service.stream_after(thread.owner, thread.id, run.id, 0)
    assert held() == 2
    with pytest.raises(QuotaExceededError):
        service.stream_after(thread.owner, thread.id, run.id, 0)
    service.stream_after("other-tenant", thread.id, run.id, 0)  # per tenant

    async def drain() -> None:
        assert [event.event async for event in first][-1] == "thread.run.completed"
        async for _ in second:
            break
        await second.aclose()  # the client went away mid-stream

    asyncio.run(drain())
    assert held() == 0

    # A Lambda that died mid-stream never gave its slots back: they are freed once their leases expired.
    store = DynamoTenantQuotaStore(dynamo_table)
    for _ in range(2):
        limiter.open_stream(thread.owner)
    with pytest.raises(QuotaExceededError):
        limiter.open_stream(thread.owner)
    clock.current = START + 100 + 61  # stream_lease_seconds + the lease's slack
    assert limiter.open_stream(thread.owner) is not None
    assert len(store.slots(thread.owner, STREAMS)) == 1


def test_a_stream_ends_normally_when_its_slot_cannot_be_given_back(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = quotas(dynamo_table, FixedClock(START))
    thread = make_thread()
    runs = FakeRuns(make_run(thread, status=RunStatus.COMPLETED, stream_log_seq=0))
    time = FakeTime()
    service = RunStreamService(
        runs,  # type: ignore[arg-type]
        runs,  # type: ignore[arg-type]
        ListLog([("thread.run.completed", 1)]),
        sleep=time.sleep,
        monotonic=time.monotonic,
        quotas=limiter,
    )

    def broken(*args: object, **kwargs: object) -> None:
        raise StorageError("down")

    stream = service.stream_after(thread.owner, thread.id, runs.run.id, 0)
    monkeypatch.setattr(DynamoTenantQuotaStore, "release_slot", broken)

    async def drain() -> list[str]:
        return [event.event async for event in stream]

    assert asyncio.run(drain()) == ["thread.run.completed"]  # the lease frees the slot later


def test_a_create_that_failed_otherwise_does_not_leave_its_slot_believed_held(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create refused for another reason (its thread is busy) took no slot: the instance's next create
    uses that slot without reading the held ones."""
    limiter = quotas(dynamo_table, FixedClock(START), max_active_runs=1)
    run = make_run(make_thread())
    with pytest.raises(NotFoundError):  # no such thread: the transaction is refused
        create(limiter, run_repo, run, thread_exists=True)
    monkeypatch.setattr(DynamoRunSlotStore, "held_run_slots", lambda *a: pytest.fail("read the slots"))
    assert create(limiter, run_repo, make_run(make_thread())).quota_slot == 0


def test_a_create_whose_first_write_failed_does_not_leave_its_slot_believed_held(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write before the run (a thread's vector store) failed: no slot was taken, none is believed held."""
    limiter = quotas(dynamo_table, FixedClock(START), max_active_runs=1)
    run = make_run(make_thread())

    def store_write_fails() -> None:
        raise StorageError("down")

    with pytest.raises(StorageError):
        limiter.create_admitted(run, lambda: pytest.fail("wrote the run"), before_write=store_write_fails)
    monkeypatch.setattr(DynamoRunSlotStore, "held_run_slots", lambda *a: pytest.fail("read the slots"))
    assert create(limiter, run_repo, make_run(make_thread())).quota_slot == 0
