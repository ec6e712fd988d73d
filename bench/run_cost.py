"""Control-plane cost of one completed run: DynamoDB / SQS / S3 requests counted, priced per 1M runs.

    PYTHONPATH=functions:. .venv/bin/python bench/run_cost.py [--runs 20] [--polls 3] [--reply-tokens 64]

Per run, one at a time, on the local stack's moto (``infra.local_stack.start_local_stack(worker=False)``):
the client creates a thread with one user message (1 request), creates a run (1), polls the run ``--polls``
times and lists the thread's messages once to read the reply; in between, the worker (``build_consumer``
with the deterministic scripted engine, ``--reply-tokens`` tokens, no delay) receives, claims, generates,
appends the run's stream events (announcements, coalesced text deltas, status changes) and finishes the run.
The API runs in this process on its own clients, the worker on others, so ``infra.aws_call_counter`` counts
each side exactly. Not counted: the assistant (created once), the sweeper (a fixed 1/minute schedule), an
idle worker's empty long polls, and GPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.app import create_app
from api.deps import build_dependencies
from assistants_core.adapters.aws import make_aws_clients
from bench.cost_model import FREE, Prices, billed_units, lambda_cost
from bench.local import api_settings, in_process_client, running_api_stack, worker_settings
from bench.report import format_table
from gpu_worker.engines.scripted import ScriptedEngine
from gpu_worker.reply_events import MIN_FLUSH_SECONDS
from gpu_worker.wiring import build_consumer
from infra.aws_call_counter import CallTally, counting_aws_calls
from infra.aws_resources import load_template
from infra.local_stack import LocalStack

API_FUNCTION = "ApiFunction"


@dataclass
class Measured:
    api: CallTally = field(default_factory=CallTally)
    worker: CallTally = field(default_factory=CallTally)
    api_requests: int = 0
    api_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)


def api_memory_mb() -> int:
    memory: int = load_template()["Resources"][API_FUNCTION]["Properties"]["MemorySize"]
    return memory


async def _request(
    client: httpx.AsyncClient, measured: Measured, method: str, path: str, json: dict[str, Any] | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    response = await client.request(method, path, json=json)
    measured.api_seconds += time.perf_counter() - started
    measured.api_requests += 1
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def measure(stack: LocalStack, arguments: argparse.Namespace) -> Measured:
    measured = Measured()
    api = build_dependencies(api_settings(stack))
    settings = worker_settings(stack, "scripted", receive_wait_seconds=0, heartbeat_seconds=10.0)
    worker_clients = make_aws_clients(settings)
    engine = ScriptedEngine(
        reply_tokens=arguments.reply_tokens, token_delay_seconds=1.0 / arguments.tokens_per_second
    )
    consumer = build_consumer(settings, engine, worker_id="bench-cost", clients=worker_clients)
    async with in_process_client(stack, create_app(api)) as client:
        assistant = (
            await client.post("/assistants", json={"model": "scripted", "instructions": "Be brief."})
        ).json()
        with (
            counting_aws_calls(api.clients) as api_counter,
            counting_aws_calls(worker_clients) as worker_counter,
        ):
            for index in range(arguments.runs):
                with api_counter.counting() as api_calls:
                    content = f"Run {index}: please answer at length."
                    thread = await _request(
                        client,
                        measured,
                        "POST",
                        "/threads",
                        json={"messages": [{"role": "user", "content": content}]},
                    )
                    run = await _request(
                        client,
                        measured,
                        "POST",
                        f"/threads/{thread['id']}/runs",
                        json={"assistant_id": assistant["id"]},
                    )
                with worker_counter.counting() as worker_calls:
                    await consumer.run_until_idle(0.0)
                with api_counter.counting() as poll_calls:
                    for _ in range(arguments.polls):
                        run = await _request(
                            client, measured, "GET", f"/threads/{thread['id']}/runs/{run['id']}"
                        )
                    await _request(client, measured, "GET", f"/threads/{thread['id']}/messages")
                measured.statuses[run["status"]] += 1
                measured.api.add(api_calls)
                measured.api.add(poll_calls)
                measured.worker.add(worker_calls)
    return measured


def report(measured: Measured, arguments: argparse.Namespace, prices: Prices) -> str:
    runs = arguments.runs
    rows: list[list[object]] = []
    totals: Counter[str] = Counter()
    for side, tally in (("API", measured.api), ("worker", measured.worker)):
        for name in sorted(tally.calls):
            kind, amount = billed_units(
                name, tally.calls[name], tally.items[name], tally.written_kilobytes[name]
            )
            per_run = amount / runs
            totals[kind] += per_run
            dollars = per_run * prices.per_unit(kind) * 1_000_000
            rows.append(
                [side, name, tally.calls[name] / runs, tally.items[name] / runs, per_run, kind, dollars]
            )
    memory_mb, requests_per_run = api_memory_mb(), measured.api_requests / runs
    seconds_per_request = measured.api_seconds / measured.api_requests
    lambda_dollars = lambda_cost(requests_per_run * 1_000_000, seconds_per_request, memory_mb, prices)
    rows.append(
        [
            "API",
            "lambda.Invoke",
            requests_per_run,
            requests_per_run,
            requests_per_run,
            "Lambda",
            lambda_dollars,
        ]
    )
    summary = [
        [kind, amount, amount * prices.per_unit(kind) * 1_000_000] for kind, amount in sorted(totals.items())
    ]
    summary.append(["Lambda (API) requests + GB-s", requests_per_run, lambda_dollars])
    total = sum(row[2] for row in summary if isinstance(row[2], float))
    summary.append(["total", "", total])
    assumptions = [
        f"{runs} runs, statuses {dict(measured.statuses)}; per run the client makes {requests_per_run:g} API "
        f"requests: create thread with 1 message, create run, {arguments.polls} run polls, 1 message list",
        f"worker: scripted engine, {arguments.reply_tokens}-token replies at {arguments.tokens_per_second:g} "
        f"tokens/s, stream text deltas: the first at once, then one per {MIN_FLUSH_SECONDS:g} s; "
        "SQS receives include the worker's empty polls while it "
        "generates (one run at a time, so no batching across runs)",
        "DynamoDB: a write = 1 WRU per started KB of each item it carries (sizes measured from the requests; "
        "updates and deletes counted as 1 KB), a read < 4 KB = 1 RRU (a Query page = 1 RRU), transactions 2 "
        "units per item; GSI writes and TTL deletes not counted",
        f"Lambda: API function {memory_mb} MB (template.yaml), {seconds_per_request * 1000:.1f} ms per "
        "request (measured here: the app in-process against moto on loopback); x86 GB-s price "
        "(arm64 is 20% lower)",
        f"prices: {prices.describe()}",
    ]
    headers = ["side", "request", "calls/run", "items/run", "units/run", "billed as", "$ per 1M runs"]
    return "\n".join(
        [
            "Control-plane cost per completed run",
            *(f"- {line}" for line in assumptions),
            "",
            format_table(headers, [row for row in rows if row[5] != FREE or row[2]]),
            "",
            format_table(["billed as", "units/run", "$ per 1M runs"], summary),
        ]
    )


async def bench(arguments: argparse.Namespace) -> str:
    with running_api_stack() as stack:
        measured = await measure(stack, arguments)
    return report(measured, arguments, Prices())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="completed runs measured (default 20)")
    parser.add_argument("--polls", type=int, default=3, help="run polls per run by the client (default 3)")
    parser.add_argument("--reply-tokens", type=int, default=64, help="reply length in tokens (default 64)")
    parser.add_argument(
        "--tokens-per-second", type=float, default=50.0, help="generation speed per run (default 50)"
    )
    print(asyncio.run(bench(parser.parse_args())))


if __name__ == "__main__":
    main()
