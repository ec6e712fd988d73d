"""Issue 10, security 2 + 3: per-tenant quotas over the real DynamoDB adapter (moto), with a fake clock:
request windows, active-run slots freed by ended runs, open-stream slots given back when a stream ends and
freed when their lease expired (a Lambda that died mid-stream)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from assistants_core.adapters.dynamodb import (
    DynamoRunRepository,
    DynamoTable,
    DynamoTenantQuotaStore,
    DynamoThreadRepository,
)
from assistants_core.adapters.dynamodb.quotas import requests_sk, slots_sk, tenant_pk
from assistants_core.domain.errors import QuotaExceededError, StorageError
from assistants_core.domain.status import RunStatus
from assistants_core.services.quotas import RUNS, STREAMS, TenantQuotas
from assistants_core.services.run_stream import RunStreamService
from tests.contract.factories import make_run, make_thread
from tests.unit.services.conftest import FixedClock
from tests.unit.services.test_run_stream import FakeRuns, FakeTime, ListLog

START = 1_750_000_040.0  # 20 s into a minute (1_750_000_020 is a multiple of 60)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def quotas(
    table: DynamoTable,
    runs: DynamoRunRepository,
    clock: FixedClock,
    ticks: Ticks | None = None,
    **limits: int,
) -> TenantQuotas:
    settings = {"requests_per_minute": 3, "max_active_runs": 2, "max_open_streams": 2, **limits}
    return TenantQuotas(
        DynamoTenantQuotaStore(table),
        runs,
        clock,
        stream_lease_seconds=100,
        monotonic=ticks or Ticks(),
        **settings,
    )


def test_requests_per_minute_in_a_fixed_window(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository
) -> None:
    clock = FixedClock(START)
    limiter = quotas(dynamo_table, run_repo, clock)
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
    first, second = (
        quotas(dynamo_table, run_repo, clock, requests_per_minute=100, request_block=10) for _ in range(2)
    )
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
    limiter = quotas(dynamo_table, run_repo, FixedClock(START), requests_per_minute=100, request_block=10)
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
        run_repo,
        FixedClock(START),
        requests_per_minute=0,
        max_active_runs=0,
        max_open_streams=0,
    )
    thread = make_thread()
    for _ in range(10):
        limiter.admit_request("acme")
        limiter.admit_run(make_run(thread))
        assert limiter.open_stream("acme") is None
    assert dynamo_table.get(tenant_pk("acme"), slots_sk(RUNS)) is None


def test_active_runs_are_capped_and_ended_runs_free_their_slots(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository, thread_repo: DynamoThreadRepository
) -> None:
    clock, ticks = FixedClock(START), Ticks()
    limiter = quotas(dynamo_table, run_repo, clock, ticks)
    threads = [make_thread() for _ in range(3)]
    for thread in threads:
        thread_repo.create_thread(thread, [])
    first, second, third = (make_run(thread) for thread in threads)
    for run in (first, second):
        limiter.admit_run(run)
        run_repo.create_run(run, [])
    with pytest.raises(QuotaExceededError) as refused:
        limiter.admit_run(third)
    assert refused.value.retry_after_seconds == 5
    # One run ends: the next create finds the tenant full, frees the ended run's slot and goes in.
    run_repo.transition_run(run_repo.get_run(first.owner, first.thread_id, first.id), RunStatus.CANCELLED)
    ticks.now += 5
    limiter.admit_run(third)
    held = {slot.slot_id for slot in DynamoTenantQuotaStore(dynamo_table).slots(first.owner, RUNS)}
    assert held == {second.id, third.id}
    stored = dynamo_table.get(tenant_pk(first.owner), slots_sk(RUNS))
    assert stored is not None and stored["n"] == 2


def test_a_run_whose_write_failed_gives_its_slot_back(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository
) -> None:
    limiter = quotas(dynamo_table, run_repo, FixedClock(START), max_active_runs=1)
    run = make_run(make_thread())
    limiter.admit_run(run)
    limiter.release_run(run)
    limiter.release_run(run)  # twice: the counter does not go below what is held
    limiter.admit_run(make_run(make_thread()))
    stored = dynamo_table.get(tenant_pk(run.owner), slots_sk(RUNS))
    assert stored is not None and stored["n"] == 1


def test_stream_slots_are_given_back_when_a_stream_ends_or_its_lease_expired(
    dynamo_table: DynamoTable, run_repo: DynamoRunRepository
) -> None:
    clock = FixedClock(START)
    limiter = quotas(dynamo_table, run_repo, clock)
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
    limiter = quotas(dynamo_table, run_repo, FixedClock(START))
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
