"""What the benchmarks measure and when they give up: 2xx-only latencies, missing inputs, claim times, the
pipeline's deadline."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bench import worker_throughput
from bench.api_latency import ENDPOINTS, Call, Endpoint, Sample, Scenario, drive
from bench.run_times import RunTimes
from bench.worker_throughput import wait_for_finished_runs


def _client(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://bench", transport=httpx.MockTransport(handler))


def test_drive_records_latencies_of_successes_only_and_counts_errors() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        index = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(500 if index % 3 == 0 else 201, json={"id": f"obj_{index}"})

    endpoint = Endpoint(
        "POST /things",
        lambda s, i: Call("POST", f"/things/{i}"),
        keep=lambda s, b: s.thread_ids.append(b["id"]),
    )
    scenario = Scenario()

    async def go() -> Sample:
        async with _client(answer) as client:
            return await drive(client, endpoint, scenario, requests=9, concurrency=2, seconds=60.0)

    sample = asyncio.run(go())
    assert (len(sample.latencies), sample.errors) == (6, 3)
    assert sorted(scenario.thread_ids) == [f"obj_{i}" for i in (1, 2, 4, 5, 7, 8)]


def test_p50_of_a_sample_without_successes_is_not_a_number() -> None:
    assert math.isnan(Sample(errors=4).p50())
    assert Sample(latencies=[0.1, 0.3]).p50() == pytest.approx(0.2)


def test_drive_fails_fast_when_an_earlier_endpoint_created_nothing() -> None:
    create_run = next(endpoint for endpoint in ENDPOINTS if endpoint.label == "POST /threads/{id}/runs")

    async def go() -> None:
        async with _client(lambda request: httpx.Response(200, json={})) as client:
            await drive(
                client, create_run, Scenario(assistant_ids=["asst_1"]), requests=1, concurrency=1, seconds=1
            )

    with pytest.raises(RuntimeError, match="no thread_ids were created"):
        asyncio.run(go())


def test_run_times_record_the_first_claim_and_the_final_write_of_each_run() -> None:
    hooks: dict[str, Any] = {}
    dynamodb = SimpleNamespace(meta=SimpleNamespace(events=SimpleNamespace(register=hooks.__setitem__)))
    times = RunTimes()
    times.watch(dynamodb)
    claimed = hooks["after-call.dynamodb.UpdateItem"]

    def claim_answer(run_id: str, status: str = "in_progress") -> dict[str, Any]:
        return {"Attributes": {"SK": {"S": f"RUN#{run_id}"}, "status": {"S": status}}}

    claimed(parsed=claim_answer("run_a", "queued"))  # not a claim
    claimed(parsed={})  # an update that returns nothing (a lease renewal)
    assert times.claimed_at == {}
    claimed(parsed=claim_answer("run_a"))
    first = times.claimed_at["run_a"]
    claimed(parsed=claim_answer("run_a"))  # a re-claim after a lost lease is not a first claim
    assert times.claimed_at == {"run_a": first}

    context: dict[str, Any] = {}
    update = {"Update": {"Key": {"PK": {"S": "THREAD#t"}, "SK": {"S": "RUN#run_a"}}}}
    hooks["before-parameter-build.dynamodb.TransactWriteItems"](
        params={"TransactItems": [update]}, context=context
    )
    hooks["after-call.dynamodb.TransactWriteItems"](parsed={}, context=context)
    other: dict[str, Any] = {}
    thread_only = {"Update": {"Key": {"PK": {"S": "THREAD#t"}, "SK": {"S": "THREAD"}}}}
    hooks["before-parameter-build.dynamodb.TransactWriteItems"](
        params={"TransactItems": [thread_only]}, context=other
    )
    hooks["after-call.dynamodb.TransactWriteItems"](parsed={}, context=other)
    assert set(times.finished_at) == {"run_a"}


def test_waiting_for_finished_runs_has_a_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_throughput, "PIPELINE_TIMEOUT_SECONDS", 0.05)
    consumer = SimpleNamespace(finished_runs=1, in_flight=2)

    async def go() -> None:
        consuming = asyncio.create_task(asyncio.sleep(60))
        try:
            await wait_for_finished_runs(consumer, consuming, 3)  # type: ignore[arg-type]
        finally:
            consuming.cancel()

    with pytest.raises(TimeoutError, match="only 1 of 3 runs finished"):
        asyncio.run(go())


def test_waiting_for_finished_runs_stops_when_the_consumer_stopped() -> None:
    consumer = SimpleNamespace(finished_runs=0, in_flight=0)

    async def go() -> None:
        consuming = asyncio.create_task(asyncio.sleep(0))
        await consuming
        await wait_for_finished_runs(consumer, consuming, 2)  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="the consumer stopped after 0 of 2 runs"):
        asyncio.run(go())
