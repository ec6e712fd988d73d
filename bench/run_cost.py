"""Control-plane cost of one completed run, not streamed and streamed, side by side: DynamoDB / SQS / S3
requests counted, priced per 1M runs.

    PYTHONPATH=functions:. .venv/bin/python -m bench.run_cost [--runs 24] [--concurrency 8] [--polls 3]
        [--api-instances 2] [--reply-tokens 64] [--tokens-per-second 50]

On the local stack's moto (``infra.local_stack.start_local_stack(worker=False)``), ``--concurrency`` clients
at a time, each: creates a thread with one user message (1 request), creates a run and then either
- not streamed: polls the run ``--polls`` times once it is done, or
- streamed: creates it with ``stream: true`` and reads the stream to its end (the API's stream reader polls
  the run's event log meanwhile),
and lists the thread's messages once (each run's requests go to one of ``--api-instances`` API instances in
turn, each with its own quota state). ONE worker wired as in production (``build_consumer``, the scripted
engine, ``--reply-tokens`` tokens at ``--tokens-per-second``) serves them: long-polls, claims, watches all
its runs with one batched read per interval, generates, writes stream events only for the streamed runs,
finishes each run in one transaction and deletes messages in batches. The API runs in this process on its
own clients, the worker on others, so ``infra.aws_call_counter`` counts each side exactly. Not counted: the
assistant (created once), the sweeper (a fixed 1/minute schedule), the worker's idle long polls before the
first and after the last run, and GPU time.

Variants, side by side in one run (``VARIANTS``): the production defaults (plain reply step derived from the
run, ``ASSISTANTS_DERIVE_REPLY_STEPS``; per-tenant quotas on) in full, then one summary row per variant with
the reply step stored (as before) and/or the quotas off (``ASSISTANTS_TENANT_*`` = 0). With quotas on (the
default limits), each run's active-run slot is one more item in its create transaction and one more in its
terminal transaction (``adapters/dynamodb/run_slots.py``), counted like every other item.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.app import create_app
from api.deps import build_dependencies
from assistants_core.adapters.aws import make_aws_clients
from assistants_core.settings import ApiSettings
from bench.cost_model import FREE, RRU, WRU, Prices, billed_units, lambda_cost
from bench.local import api_settings, in_process_client, running_api_stack, worker_settings
from bench.report import format_table
from gpu_worker.engines.scripted import ScriptedEngine
from gpu_worker.reply_events import MIN_FLUSH_SECONDS
from gpu_worker.wiring import build_consumer
from infra.aws_call_counter import CallTally, counting_aws_calls
from infra.aws_resources import load_template
from infra.index_write_log import IndexWriteLog
from infra.index_writes import TableIndexes
from infra.local_stack import LocalStack

API_FUNCTION = "ApiFunction"
STREAM_FUNCTION = "StreamFunction"  # StreamingApiUrl: a stream: true request is served there


@dataclass(frozen=True)
class Variant:
    streamed: bool
    derive_reply_steps: bool = True
    quotas: bool = True

    @property
    def label(self) -> str:
        return ", ".join(
            [
                "streamed" if self.streamed else "not streamed",
                "reply step derived" if self.derive_reply_steps else "reply step stored",
                "quotas on" if self.quotas else "quotas off",
            ]
        )


# The production defaults first (reported in full), then the variants each change is measured against.
VARIANTS = (
    Variant(streamed=False),
    Variant(streamed=True),
    Variant(streamed=False, quotas=False),
    Variant(streamed=False, derive_reply_steps=False, quotas=False),
    Variant(streamed=False, derive_reply_steps=False),
    Variant(streamed=True, quotas=False),
)
NO_QUOTAS = {"tenant_requests_per_minute": 0, "tenant_max_active_runs": 0, "tenant_max_open_streams": 0}
DEFAULT_QUOTAS = {
    name: ApiSettings.model_fields[name].default
    for name in ("tenant_requests_per_minute", "tenant_max_active_runs", "tenant_max_open_streams")
}


@dataclass
class Measured:
    api: CallTally = field(default_factory=CallTally)
    worker: CallTally = field(default_factory=CallTally)
    api_requests: int = 0
    stream_seconds: float = 0.0  # a streaming response bills its Lambda for the whole stream
    request_seconds: float = 0.0  # one plain request, measured alone (``calibrate``)
    statuses: Counter[str] = field(default_factory=Counter)
    quotas: bool = False


@dataclass(frozen=True)
class FunctionConfig:
    memory_mb: int
    arm64: bool

    def describe(self) -> str:
        return f"{self.memory_mb} MB, {'arm64' if self.arm64 else 'x86_64'}"


@functools.cache
def function_config(name: str) -> FunctionConfig:
    """A Lambda function's memory and architecture as template.yaml deploys it (Globals included)."""
    template = load_template()
    properties = {
        **template.get("Globals", {}).get("Function", {}),
        **template["Resources"][name]["Properties"],
    }
    return FunctionConfig(int(properties["MemorySize"]), "arm64" in properties.get("Architectures", []))


async def _request(
    client: httpx.AsyncClient, measured: Measured, method: str, path: str, json: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.request(method, path, json=json)
    measured.api_requests += 1
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def _stream(client: httpx.AsyncClient, measured: Measured, path: str, body: dict[str, Any]) -> str:
    """A ``stream: true`` request read to its end; the last event's name."""
    started, last = time.perf_counter(), ""
    async with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("event: thread.run."):
                last = line.removeprefix("event: ")
    measured.stream_seconds += time.perf_counter() - started
    measured.api_requests += 1
    return last


async def _one_run(
    client: httpx.AsyncClient,
    measured: Measured,
    assistant_id: str,
    index: int,
    *,
    streamed: bool,
    polls: int,
    finished: Callable[[], bool],
) -> None:
    """One client's run: create a thread with a message, run it (streamed: read the stream to its end;
    otherwise poll the run ``polls`` times once it is done), then list the messages."""
    content = f"Run {index}: please answer at length."
    thread = await _request(
        client, measured, "POST", "/threads", json={"messages": [{"role": "user", "content": content}]}
    )
    path = f"/threads/{thread['id']}/runs"
    if streamed:
        last = await _stream(client, measured, path, {"assistant_id": assistant_id, "stream": True})
        status = last.removeprefix("thread.run.")
    else:
        run = await _request(client, measured, "POST", path, json={"assistant_id": assistant_id})
        while not finished():  # the wave's runs are done (the client's polls below then see them done)
            await asyncio.sleep(0.02)
        for _ in range(polls):
            run = await _request(client, measured, "GET", f"{path}/{run['id']}")
        status = run["status"]
    await _request(client, measured, "GET", f"/threads/{thread['id']}/messages")
    measured.statuses[status] += 1


async def measure(stack: LocalStack, arguments: argparse.Namespace, variant: Variant) -> Measured:
    """``--runs`` runs, ``--concurrency`` clients at a time, on one production-wired worker."""
    measured, streamed = Measured(quotas=variant.quotas), variant.streamed
    quotas = DEFAULT_QUOTAS if variant.quotas else NO_QUOTAS
    # Several API instances (Lambda runs many): each counts its own request blocks and draws its runs'
    # active-run slots knowing only its own; a run's requests all go to one of them, in turn.
    apis = [build_dependencies(api_settings(stack, **quotas)) for _ in range(arguments.api_instances)]
    settings = worker_settings(
        stack,
        "scripted",
        max_concurrent_runs=max(arguments.concurrency, 1),
        heartbeat_seconds=10.0,
        # Long polls of 5 s rather than 20: the consumer's stop waits for its last poll to end. The waves
        # follow each other at once, so no poll in between waits either way (the same calls are counted).
        receive_wait_seconds=5,
        derive_reply_steps=variant.derive_reply_steps,
    )
    worker_clients = make_aws_clients(settings)
    engine = ScriptedEngine(
        reply_tokens=arguments.reply_tokens, token_delay_seconds=1.0 / arguments.tokens_per_second
    )
    consumer = build_consumer(settings, engine, worker_id="bench-cost", clients=worker_clients)
    index_writes = IndexWriteLog(TableIndexes.from_template())  # both sides write the same items
    async with contextlib.AsyncExitStack() as exits:
        instances = [
            await exits.enter_async_context(in_process_client(stack, create_app(api))) for api in apis
        ]
        client = instances[0]
        assistant = (
            await client.post("/assistants", json={"model": "scripted", "instructions": "Be brief."})
        ).json()
        with contextlib.ExitStack() as counting:
            api_counters = [
                counting.enter_context(counting_aws_calls(api.clients, index_writes=index_writes))
                for api in apis
            ]
            worker_counter = counting.enter_context(
                counting_aws_calls(worker_clients, index_writes=index_writes)
            )
            api_calls = [counting.enter_context(counter.counting()) for counter in api_counters]
            worker_calls = counting.enter_context(worker_counter.counting())
            consuming = asyncio.create_task(consumer.run_forever())
            try:
                for start in range(0, arguments.runs, arguments.concurrency):
                    wave = range(start, min(arguments.runs, start + arguments.concurrency))

                    def finished(until: int = wave.stop) -> bool:
                        return consumer.finished_runs >= until

                    clients = [
                        _one_run(
                            instances[index % len(instances)],
                            measured,
                            assistant["id"],
                            index,
                            streamed=streamed,
                            polls=arguments.polls,
                            finished=finished,
                        )
                        for index in wave
                    ]
                    await asyncio.gather(*clients)
            finally:
                consumer.stop()
                await consuming
        for calls in api_calls:
            measured.api.add(calls)
        measured.worker.add(worker_calls)
        measured.request_seconds = await calibrate(client, f"/assistants/{assistant['id']}")
    return measured


async def calibrate(client: httpx.AsyncClient, path: str, requests: int = 15) -> float:
    """Median seconds of one plain request alone (the waves' requests wait for each other on one loop)."""
    durations = []
    for _ in range(requests):
        started = time.perf_counter()
        (await client.get(path)).raise_for_status()
        durations.append(time.perf_counter() - started)
    return sorted(durations)[len(durations) // 2]


@dataclass
class Cost:
    """One variant's bill per run: the request rows, units and dollars per kind, and the totals."""

    rows: list[list[object]]
    units: dict[str, float]
    dollars: dict[str, float]
    aws_requests: float
    api_requests: float
    lambda_dollars: float
    seconds_per_request: float

    @property
    def total(self) -> float:
        return sum(self.dollars.values()) + self.lambda_dollars


def cost_of(measured: Measured, arguments: argparse.Namespace, prices: Prices, *, streamed: bool) -> Cost:
    runs = arguments.runs
    rows: list[list[object]] = []
    units: dict[str, float] = {}
    for side, tally in (("API", measured.api), ("worker", measured.worker)):
        for name in sorted(tally.calls):
            kind, amount = billed_units(
                name, tally.calls[name], tally.items[name], tally.written_kilobytes[name]
            )
            per_run = amount / runs
            units[kind] = units.get(kind, 0.0) + per_run
            dollars = per_run * prices.per_unit(kind) * 1_000_000
            rows.append(
                [side, name, tally.calls[name] / runs, tally.items[name] / runs, per_run, kind, dollars]
            )
    requests_per_run = measured.api_requests / runs
    streams = runs if streamed else 0
    plain_requests = measured.api_requests - streams
    seconds_per_request = (plain_requests * measured.request_seconds + measured.stream_seconds) / (
        measured.api_requests
    )
    api, stream = function_config(API_FUNCTION), function_config(STREAM_FUNCTION)
    per_million_runs = 1_000_000 / runs
    lambda_dollars = lambda_cost(
        plain_requests * per_million_runs, measured.request_seconds, api.memory_mb, prices, arm64=api.arm64
    ) + lambda_cost(
        streams * per_million_runs,
        measured.stream_seconds / max(streams, 1),
        stream.memory_mb,
        prices,
        arm64=stream.arm64,
    )
    rows.append(["API", "lambda.Invoke", requests_per_run, requests_per_run, requests_per_run, "Lambda",
                 lambda_dollars])  # fmt: skip
    dollars = {kind: amount * prices.per_unit(kind) * 1_000_000 for kind, amount in units.items()}
    aws_requests = sum(tally.requests() for tally in (measured.api, measured.worker)) / runs
    return Cost(rows, units, dollars, aws_requests, requests_per_run, lambda_dollars, seconds_per_request)


def report(
    measured: Measured, cost: Cost, arguments: argparse.Namespace, prices: Prices, *, streamed: bool
) -> str:
    runs = arguments.runs
    requests_per_run = cost.api_requests
    summary: list[list[object]] = [
        [kind, amount, cost.dollars[kind]] for kind, amount in sorted(cost.units.items())
    ]
    summary.append(["Lambda (API) requests + GB-s", requests_per_run, cost.lambda_dollars])
    summary.append(["total", "", cost.total])
    summary.append(["AWS requests (DynamoDB + SQS + S3, API + worker)", cost.aws_requests, ""])
    client = (
        "create thread with 1 message, create run with stream: true read to its end, 1 message list"
        if streamed
        else f"create thread with 1 message, create run, {arguments.polls} run polls, 1 message list"
    )
    assumptions = [
        f"{runs} runs, {arguments.concurrency} clients at a time, statuses {dict(measured.statuses)}; "
        f"per run the client makes {requests_per_run:g} API requests: {client}",
        f"worker (production-wired, ONE consumer): scripted engine, {arguments.reply_tokens}-token replies "
        f"at {arguments.tokens_per_second:g} tokens/s; "
        + (
            f"stream text deltas: the first at once, then one per {MIN_FLUSH_SECONDS:g} s; "
            if streamed
            else "no event log (nobody streams the runs); "
        )
        + "its SQS receives (long polls) and batched status reads and deletes are shared by the runs in "
        "flight together",
        "DynamoDB: a write = 1 WRU per started KB of each item it carries (sizes measured from the requests; "
        "updates and deletes counted as 1 KB), a read < 4 KB = 1 RRU (a Query page = 1 RRU), transactions 2 "
        "units per item; global secondary index writes as AWS bills them (rows `<index> index writes`, from "
        "each written item's images before and after, worked out after the runs: entering, leaving or "
        "changing an index's projected attributes = 1 write, changing its key = 2; 1 WRU per started KB of "
        "the entry, ALL projection = the item; not doubled in a transaction); TTL deletes not counted (free)",
        f"Lambda (template.yaml): plain requests on {API_FUNCTION} "
        f"({function_config(API_FUNCTION).describe()}), {measured.request_seconds * 1000:.1f} ms each "
        "(measured alone, the app in-process against moto on loopback)"
        + (
            f"; streams on {STREAM_FUNCTION} ({function_config(STREAM_FUNCTION).describe()}), each billed "
            f"for its whole duration, {measured.stream_seconds / arguments.runs * 1000:.0f} ms on average"
            if streamed
            else ""
        ),
        f"prices: {prices.describe()}",
    ]
    if measured.quotas:
        assumptions.append(
            f"quotas on, at the defaults ({DEFAULT_QUOTAS['tenant_requests_per_minute']} requests/min, "
            f"{DEFAULT_QUOTAS['tenant_max_active_runs']} active runs): the request counter is one UpdateItem "
            "per block of 10 requests an API instance takes; a run's active-run slot is one more item in its "
            "create transaction and one more in its terminal transaction, no request of its own; a create "
            "that draws a slot another API instance holds adds one refused transaction and one Query "
            f"({arguments.api_instances} API instances here, each run's requests go to one of them in turn)"
        )
    headers = ["side", "request", "calls/run", "items/run", "units/run", "billed as", "$ per 1M runs"]
    return "\n".join(
        [
            "Control-plane cost per completed run",
            *(f"- {line}" for line in assumptions),
            "",
            format_table(headers, [row for row in cost.rows if row[5] != FREE or row[2]]),
            "",
            format_table(["billed as", "units/run", "$ per 1M runs"], summary),
        ]
    )


def comparison(costs: list[tuple[Variant, Cost]]) -> str:
    """One row per variant, side by side."""
    headers = ["run", "AWS requests/run", "WRU/run", "RRU/run", "$ per 1M runs without Lambda",
               "Lambda $", "total $ per 1M runs"]  # fmt: skip
    rows = [
        [
            variant.label,
            cost.aws_requests,
            cost.units.get(WRU, 0.0),
            cost.units.get(RRU, 0.0),
            sum(cost.dollars.values()),
            cost.lambda_dollars,
            cost.total,
        ]
        for variant, cost in costs
    ]
    return "Per-run cost, each change side by side (same run, same machine)\n" + format_table(headers, rows)


async def bench(arguments: argparse.Namespace) -> str:
    sections, costs = [], []
    with running_api_stack() as stack:
        for variant in arguments.variants:
            measured = await measure(stack, arguments, variant)
            cost = cost_of(measured, arguments, Prices(), streamed=variant.streamed)
            costs.append((variant, cost))
            if variant in VARIANTS[:2]:  # the production defaults, in full
                text = report(measured, cost, arguments, Prices(), streamed=variant.streamed)
                sections.append(f"## {variant.label.upper()}\n{text}")
    return "\n\n".join([*sections, comparison(costs)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=24, help="completed runs measured (default 24)")
    parser.add_argument("--polls", type=int, default=3, help="run polls per run by the client (default 3)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at a time (default 8)")
    parser.add_argument(
        "--api-instances", type=int, default=2, help="API instances the runs' requests go to (default 2)"
    )
    parser.add_argument("--reply-tokens", type=int, default=64, help="reply length in tokens (default 64)")
    parser.add_argument(
        "--tokens-per-second", type=float, default=50.0, help="generation speed per run (default 50)"
    )
    parser.add_argument(
        "--only-defaults", action="store_true", help="measure the production defaults only (no variants)"
    )
    arguments = parser.parse_args()
    arguments.variants = VARIANTS[:2] if arguments.only_defaults else VARIANTS
    print(asyncio.run(bench(arguments)))


if __name__ == "__main__":
    main()
