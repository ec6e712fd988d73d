"""API latency per endpoint under concurrent load, and the AWS calls each endpoint makes, in one run.

    PYTHONPATH=functions:. .venv/bin/python bench/api_latency.py [--requests 160] [--concurrency 16]

1. The local stack without the worker (``infra.local_stack.start_local_stack(worker=False)``: moto in this
   process, the API under uvicorn in a child process, loopback only). Runs stay ``queued``.
2. Load: for each endpoint in turn, ``--requests`` requests from ``--concurrency`` asyncio tasks (httpx), at
   most ``--seconds`` per endpoint; p50 / p99 latency of the 2xx answers (the others counted as errors),
   and p50 relative to the baseline: ``GET /assistants/{id}`` of one assistant made beforehand (one GetItem:
   the trivial authenticated request), a batch of the same size and concurrency measured right before each
   endpoint, so both are measured in the same stretch of time.
3. AWS calls: the same requests, a few per endpoint, one at a time through the same app composed in this
   process, counted with ``infra.aws_call_counter`` (deterministic).
Every created object feeds the next endpoints: threads get the messages and the runs, the runs are read, then
cancelled (each run once, while ``queued``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.app import create_app
from api.deps import build_dependencies
from bench.local import api_settings, http_client, in_process_client, running_api_stack
from bench.report import format_table, percentile, ratio
from infra import local_env
from infra.aws_call_counter import CallTally, counting_aws_calls, per_service
from infra.local_stack import LocalStack

BASELINE = "GET /assistants/{id}"
COUNTED_REQUESTS = 3


@dataclass
class Scenario:
    """What earlier endpoints created, for the later ones."""

    assistant_ids: list[str] = field(default_factory=list)
    thread_ids: list[str] = field(default_factory=list)
    runs: list[tuple[str, str]] = field(default_factory=list)  # (thread id, run id)
    baseline_assistant_id: str = ""


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Endpoint:
    label: str
    call: Callable[[Scenario, int], Call]  # the i-th request
    keep: Callable[[Scenario, dict[str, Any]], None] = lambda scenario, body: None
    unique: Callable[[Scenario], int] | None = None  # how many requests the scenario allows (once each)
    needs: tuple[str, ...] = ()  # the ``Scenario`` lists (filled by earlier endpoints) its requests use


def _nth(items: list[Any], index: int) -> Any:
    return items[index % len(items)]


def _run_path(scenario: Scenario, index: int) -> str:
    thread_id, run_id = _nth(scenario.runs, index)
    return f"/threads/{thread_id}/runs/{run_id}"


BASELINE_BATCH = Endpoint(
    f"{BASELINE} (baseline)", lambda s, i: Call("GET", f"/assistants/{s.baseline_assistant_id}")
)
ENDPOINTS = [
    Endpoint(
        "POST /assistants",
        lambda s, i: Call("POST", "/assistants", {"model": local_env.SERVED_MODEL, "name": f"bench {i}"}),
        keep=lambda s, body: s.assistant_ids.append(body["id"]),
    ),
    Endpoint(
        BASELINE,
        lambda s, i: Call("GET", f"/assistants/{_nth(s.assistant_ids, i)}"),
        needs=("assistant_ids",),
    ),
    Endpoint("GET /assistants", lambda s, i: Call("GET", "/assistants?limit=20")),
    Endpoint(
        "POST /threads",
        lambda s, i: Call("POST", "/threads", {}),
        keep=lambda s, b: s.thread_ids.append(b["id"]),
    ),
    Endpoint(
        "POST /threads/{id}/messages",
        lambda s, i: Call(
            "POST", f"/threads/{_nth(s.thread_ids, i)}/messages", {"role": "user", "content": "hi"}
        ),
        needs=("thread_ids",),
    ),
    Endpoint(
        "GET /threads/{id}/messages",
        lambda s, i: Call("GET", f"/threads/{_nth(s.thread_ids, i)}/messages?limit=20"),
        needs=("thread_ids",),
    ),
    Endpoint(
        "POST /threads/{id}/runs",
        lambda s, i: Call("POST", f"/threads/{s.thread_ids[i]}/runs", {"assistant_id": s.assistant_ids[0]}),
        keep=lambda s, body: s.runs.append((body["thread_id"], body["id"])),
        unique=lambda s: len(s.thread_ids),
        needs=("thread_ids", "assistant_ids"),
    ),
    Endpoint("GET /threads/{id}/runs/{id}", lambda s, i: Call("GET", _run_path(s, i)), needs=("runs",)),
    Endpoint(
        "GET /threads/{id}/runs",
        lambda s, i: Call("GET", f"/threads/{_nth(s.runs, i)[0]}/runs?limit=20"),
        needs=("runs",),
    ),
    Endpoint(
        "POST /threads/{id}/runs/{id}/cancel",
        lambda s, i: Call("POST", f"{_run_path(s, i)}/cancel"),
        unique=lambda s: len(s.runs),
        needs=("runs",),
    ),
]


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)  # of the 2xx answers
    errors: int = 0
    seconds: float = 0.0

    def p50(self) -> float:
        """NaN (``n/a``) when no request succeeded."""
        return percentile(self.latencies, 0.5) if self.latencies else math.nan

    def p99(self) -> float:
        return percentile(self.latencies, 0.99) if self.latencies else math.nan


@dataclass(frozen=True)
class Measured:
    endpoint: Sample
    baseline: Sample  # the baseline batch measured right before the endpoint


def require_earlier_results(endpoint: Endpoint, scenario: Scenario) -> None:
    """Fail fast, naming what is missing, when the endpoints ``endpoint`` depends on created nothing."""
    missing = [name for name in endpoint.needs if not getattr(scenario, name)]
    if missing:
        raise RuntimeError(
            f"{endpoint.label}: nothing to call it on, no {' or '.join(missing)} were created by the "
            "endpoints before it (did all their requests fail?)"
        )


async def drive(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    scenario: Scenario,
    *,
    requests: int,
    concurrency: int,
    seconds: float,
) -> Sample:
    """``requests`` calls of ``endpoint`` from ``concurrency`` tasks, none started after ``seconds``."""
    require_earlier_results(endpoint, scenario)
    total = min(requests, endpoint.unique(scenario)) if endpoint.unique else requests
    sample, next_index = Sample(), iter(range(total))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        for index in next_index:
            if time.perf_counter() > deadline:
                return
            call = endpoint.call(scenario, index)
            started = time.perf_counter()
            response = await client.request(call.method, call.path, json=call.body)
            elapsed = time.perf_counter() - started
            if not response.is_success:
                sample.errors += 1
                continue
            sample.latencies.append(elapsed)
            endpoint.keep(scenario, response.json())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.seconds = time.perf_counter() - started
    return sample


async def measure_latency(stack: LocalStack, arguments: argparse.Namespace) -> dict[str, Measured]:
    measured: dict[str, Measured] = {}
    scenario = Scenario()
    load = {
        "requests": arguments.requests,
        "concurrency": arguments.concurrency,
        "seconds": arguments.seconds,
    }
    async with http_client(stack) as client:
        response = await client.post(
            "/assistants", json={"model": local_env.SERVED_MODEL, "name": "baseline"}
        )
        response.raise_for_status()
        scenario.baseline_assistant_id = response.json()["id"]
        for endpoint in ENDPOINTS:
            baseline = await drive(client, BASELINE_BATCH, scenario, **load)
            measured[endpoint.label] = Measured(await drive(client, endpoint, scenario, **load), baseline)
    return measured


async def count_aws_calls(stack: LocalStack) -> dict[str, tuple[int, CallTally]]:
    """Per endpoint: how many requests were counted, and their AWS calls (the app in this process)."""
    dependencies = build_dependencies(api_settings(stack))
    counted: dict[str, tuple[int, CallTally]] = {}
    scenario = Scenario()
    with counting_aws_calls(dependencies.clients) as counter:
        async with in_process_client(stack, create_app(dependencies)) as client:
            for endpoint in ENDPOINTS:
                with counter.counting() as tally:
                    sample = await drive(
                        client, endpoint, scenario, requests=COUNTED_REQUESTS, concurrency=1, seconds=60.0
                    )
                if sample.errors:
                    raise RuntimeError(f"{endpoint.label}: {sample.errors} failed requests while counting")
                counted[endpoint.label] = (len(sample.latencies), tally)
    return counted


def _operations(requests: int, tally: CallTally) -> str:
    return ", ".join(
        f"{name.split('.', 1)[1]}" + (f" x{count / requests:g}" if count != requests else "")
        for name, count in sorted(tally.calls.items())
    )


def report(measured: dict[str, Measured], counted: dict[str, tuple[int, CallTally]], concurrency: int) -> str:
    rows = []
    for label, result in measured.items():
        sample, baseline, (requests, tally) = result.endpoint, result.baseline, counted[label]
        rows.append(
            [
                label,
                len(sample.latencies),
                sample.errors,
                len(sample.latencies) / sample.seconds,
                sample.p50() * 1000,
                sample.p99() * 1000,
                baseline.p50() * 1000,
                ratio(sample.p50(), baseline.p50()),
                *(per_service(tally.calls, service) / requests for service in ("dynamodb", "s3", "sqs")),
                _operations(requests, tally),
            ]
        )
    headers = [
        "endpoint",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "baseline p50 ms",
        "p50 / baseline",
    ]
    headers += ["DynamoDB", "S3", "SQS", "AWS operations per request"]
    return (
        f"API latency, {concurrency} concurrent clients over loopback HTTP; requests, req/s and latencies of "
        f"the 2xx answers; baseline: a batch of {BASELINE} (the same size and concurrency) measured right "
        f"before each endpoint; AWS calls per request counted over {COUNTED_REQUESTS} requests each\n"
        + format_table(headers, rows)
    )


async def bench(arguments: argparse.Namespace) -> str:
    with running_api_stack() as stack:
        measured = await measure_latency(stack, arguments)
        counted = await count_aws_calls(stack)
    return report(measured, counted, arguments.concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=160, help="requests per endpoint (default 160)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=15.0, help="time bound per endpoint (default 15)")
    print(asyncio.run(bench(parser.parse_args())))


if __name__ == "__main__":
    main()
