"""Relay capacity of the production-wired worker at GPU-like token rates, and create -> claim latency, each
against the previous behaviour side by side in one run.

    PYTHONPATH=functions:. .venv/bin/python -m bench.relay_capacity [--runs 32,128] [--tokens 512]
        [--tokens-per-second 100] [--claim-levels 1,8,32] [--quick]

On moto in a child process (``bench.local.moto_in_child_process``: the worker in this process does not share
its interpreter with moto; runs are created with the API's own services in this process), with the scripted
engine offering ``--tokens-per-second`` per run (a GPU-like rate; it costs almost no CPU):

1. relay capacity, for each N of ``--runs``: N non-streamed runs (``POST /threads/runs`` through the API
   service) are queued, then ONE consumer wired as in production (``gpu_worker.wiring.build_consumer``,
   ``max_concurrent_runs`` N) receives, claims, generates and finishes them. Delivered/offered = the runs'
   tokens over the sum of their claim -> finished times, divided by the offered per-run rate (1.00: every run
   relayed at the engine's pace, final write included; the engine alone's own ratio shows what the machine
   allows). Consumer CPU: CPU seconds of this process (moto runs in another; the runs are created before)
   during the phase, minus the engine's own (the same N generations driven directly, measured first), per
   run and per 1,000 tokens. Variants, side by side:
   ``this change``: the defaults; ``previous``: per-run status reads, claims one after another, no long poll
   while busy, single deletes, the loop's default executor and botocore's default 10-connection pool
   (``ConsumerConfig`` switches), i.e. the consumer as it was (its event log only for streamed runs, so
   the event-log changes are measured by ``bench.run_cost``). "pool full" counts urllib3's "Connection pool
   is full, discarding connection" warnings (a new connection, on AWS a new TLS handshake, each).
2. create -> claim, for each level of ``--claim-levels``: with the consumer already long-polling, that many
   runs are created at once; the time from each create call to the worker's claim (its conditional update
   answered), median and p99, for both variants.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from api.deps import ApiDependencies, build_dependencies
from assistants_core.adapters.aws import make_aws_clients
from assistants_core.schemas.assistants import CreateAssistantRequest
from assistants_core.schemas.runs import CreateThreadAndRunRequest
from assistants_core.settings import WorkerSettings
from bench.local import api_settings_for, moto_in_child_process, worker_settings_for
from bench.report import format_table, percentile, ratio
from bench.run_times import RunTimes
from gpu_worker.consumer import ConsumerConfig, RunConsumer, pool_size
from gpu_worker.engines.base import ChatMessage, SamplingOptions
from gpu_worker.engines.scripted import ScriptedEngine
from gpu_worker.wiring import build_consumer
from infra.local_env import LOCAL_TENANT

PHASE_TIMEOUT_SECONDS = 300.0
RECEIVE_WAIT_SECONDS = 2  # long polls; a stopped consumer leaves its last poll early
PREVIOUS = {
    "batched_status_reads": False,
    "concurrent_claims": False,
    "long_poll_while_busy": False,
    "batched_deletes": False,
    "own_thread_pool": False,
}


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: Mapping[str, Any]
    sized_pool: bool


VARIANTS = [Variant("this change", {}, sized_pool=True), Variant("previous", PREVIOUS, sized_pool=False)]


# -- CPU and pool warnings -------------------------------------------------------------------------------
@contextmanager
def consumer_cpu() -> Iterator[list[float]]:
    """CPU seconds of this process (moto runs in another) while the block runs (filled when it ends)."""
    result: list[float] = []
    before = time.process_time()
    try:
        yield result
    finally:
        result.append(time.process_time() - before)


class PoolFullCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Connection pool is full" in record.getMessage():
            self.count += 1


@contextmanager
def counting_pool_discards() -> Iterator[PoolFullCounter]:
    counter = PoolFullCounter()
    target = logging.getLogger("urllib3.connectionpool")
    target.addHandler(counter)
    try:
        yield counter
    finally:
        target.removeHandler(counter)


# -- claims and finishes, seen on the worker's clients -----------------------------------------------------
def build_variant(
    settings: WorkerSettings, engine: ScriptedEngine, variant: Variant, concurrency: int, worker_id: str
) -> tuple[RunConsumer, RunTimes]:
    production = settings.model_copy(update={"max_concurrent_runs": concurrency})
    config = replace(ConsumerConfig.from_settings(production), **variant.overrides)
    pool = pool_size(concurrency) if variant.sized_pool else None
    clients = make_aws_clients(production, max_pool_connections=pool)
    times = RunTimes()
    times.watch(clients.dynamodb)
    consumer = build_consumer(production, engine, worker_id=worker_id, clients=clients, config=config)
    return consumer, times


# -- phases ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Relay:
    runs: int
    variant: str
    tokens: int
    relay_seconds: float  # sum over runs of claim -> finished
    wall_seconds: float
    cpu_seconds: float
    pool_full: int


async def engine_alone(count: int, tokens: int, delay: float) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``count`` generations driven directly, as the consumer would."""
    engine = ScriptedEngine(reply_tokens=tokens, token_delay_seconds=delay)
    options = SamplingOptions(max_tokens=tokens)
    messages = [ChatMessage("user", "relay")]

    async def one(index: int) -> int:
        pieces = []
        async for chunk in engine.generate(f"direct-{index}", messages, options):
            pieces.append(chunk.text_delta)
        return len(pieces)

    started = time.perf_counter()
    with consumer_cpu() as cpu:
        await asyncio.gather(*(one(index) for index in range(count)))
    return time.perf_counter() - started, cpu[0]


def create_runs(
    api: ApiDependencies, assistant_id: str, count: int, pool: ThreadPoolExecutor
) -> dict[str, float]:
    """Create ``count`` non-streamed runs at once (threads): run id -> when its create call started."""

    def create(index: int) -> tuple[str, float]:
        request = CreateThreadAndRunRequest.model_validate(
            {
                "assistant_id": assistant_id,
                "thread": {"messages": [{"role": "user", "content": f"run {index}"}]},
            }
        )
        sent = time.perf_counter()
        return api.runs.create_thread_and_run(LOCAL_TENANT, request).id, sent

    return dict(pool.map(create, range(count)))


async def wait_finished(consumer: RunConsumer, consuming: asyncio.Task[None], count: int) -> None:
    deadline = time.perf_counter() + PHASE_TIMEOUT_SECONDS
    while consumer.finished_runs < count:
        if consuming.done():
            consuming.result()
            raise RuntimeError(f"the consumer stopped after {consumer.finished_runs} of {count} runs")
        if time.perf_counter() > deadline:
            raise TimeoutError(
                f"{consumer.finished_runs} of {count} runs finished in {PHASE_TIMEOUT_SECONDS} s"
            )
        await asyncio.sleep(0.01)


async def relay_phase(
    api: ApiDependencies,
    settings: WorkerSettings,
    assistant_id: str,
    variant: Variant,
    *,
    count: int,
    tokens: int,
    delay: float,
    creators: ThreadPoolExecutor,
) -> Relay:
    await asyncio.to_thread(create_runs, api, assistant_id, count, creators)
    engine = ScriptedEngine(reply_tokens=tokens, token_delay_seconds=delay)
    consumer, times = build_variant(settings, engine, variant, count, f"bench-relay-{count}")
    started = time.perf_counter()
    with counting_pool_discards() as discards, consumer_cpu() as cpu:
        consuming = asyncio.create_task(consumer.run_forever())
        try:
            await wait_finished(consumer, consuming, count)
        finally:
            consumer.stop()
            await consuming
    wall = time.perf_counter() - started
    relay = sum(times.finished_at[run_id] - times.claimed_at[run_id] for run_id in times.finished_at)
    return Relay(count, variant.name, count * tokens, relay, wall, cpu[0], discards.count)


async def claim_phase(
    api: ApiDependencies,
    settings: WorkerSettings,
    assistant_id: str,
    variant: Variant,
    *,
    count: int,
    creators: ThreadPoolExecutor,
) -> list[float]:
    """Seconds from each create call to its claim, ``count`` runs created at once on a polling consumer."""
    engine = ScriptedEngine(reply_tokens=8)
    consumer, times = build_variant(settings, engine, variant, max(count, 8), f"bench-claim-{count}")
    consuming = asyncio.create_task(consumer.run_forever())
    try:
        await asyncio.sleep(0.5)  # the consumer is long-polling, as a warm worker would be
        sent = await asyncio.to_thread(create_runs, api, assistant_id, count, creators)
        await wait_finished(consumer, consuming, count)
    finally:
        consumer.stop()
        await consuming
    return [times.claimed_at[run_id] - at for run_id, at in sent.items()]


# -- report ----------------------------------------------------------------------------------------------
def report(
    relays: Sequence[Relay],
    engine: Mapping[int, tuple[float, float]],
    claims: Mapping[tuple[int, str], list[float]],
    arguments: argparse.Namespace,
) -> str:
    offered = arguments.tokens_per_second
    rows = []
    for relay in relays:
        delivered = relay.tokens / relay.relay_seconds
        consumer_cpu_seconds = max(0.0, relay.cpu_seconds - engine[relay.runs][1])
        rows.append(
            [
                relay.runs,
                relay.variant,
                delivered,
                ratio(delivered, offered),
                ratio(relay.tokens / relay.wall_seconds, offered * relay.runs),
                consumer_cpu_seconds * 1000 / relay.runs,
                consumer_cpu_seconds * 1000 * 1000 / relay.tokens,
                relay.pool_full,
            ]
        )
    headers = ["runs", "worker", "delivered tok/s per run", "delivered / offered", "wall ratio"]
    headers += ["consumer CPU ms per run", "CPU ms per 1k tokens", "pool full"]
    ideal = arguments.tokens / offered
    engine_rows = [[n, wall, ideal / wall, cpu * 1000 / n] for n, (wall, cpu) in sorted(engine.items())]
    claim_rows = []
    for (level, name), delays in sorted(
        claims.items(), key=lambda item: (item[0][0], item[0][1] != "this change")
    ):
        claim_rows.append([level, name, percentile(delays, 0.5) * 1000, percentile(delays, 0.99) * 1000])
    return "\n".join(
        [
            f"Relay capacity: scripted engine offering {offered:g} tok/s per run, {arguments.tokens} tokens "
            "per non-streamed run, the production-wired consumer against moto on this machine",
            format_table(headers, rows),
            "",
            "Engine alone (the same generations driven directly; its CPU is subtracted above)",
            format_table(["runs", "wall s", "delivered / offered", "engine CPU ms per run"], engine_rows),
            "",
            "create -> claim (runs created at once on a long-polling consumer)",
            format_table(["runs at once", "worker", "median ms", "p99 ms"], claim_rows),
        ]
    )


async def bench(arguments: argparse.Namespace) -> str:
    delay = 1.0 / arguments.tokens_per_second
    relays: list[Relay] = []
    engine: dict[int, tuple[float, float]] = {}
    claims: dict[tuple[int, str], list[float]] = {}
    with (
        moto_in_child_process() as resources,
        ThreadPoolExecutor(16, thread_name_prefix="bench-create") as creators,
    ):
        api = build_dependencies(api_settings_for(resources, "sk-bench"))
        assistant = api.assistants.create(
            LOCAL_TENANT, CreateAssistantRequest(model="scripted", instructions="Relay.")
        )
        settings = worker_settings_for(resources, "scripted", receive_wait_seconds=RECEIVE_WAIT_SECONDS)
        for count in arguments.runs:
            engine[count] = await engine_alone(count, arguments.tokens, delay)
            for variant in VARIANTS:
                relays.append(
                    await relay_phase(
                        api, settings, assistant.id, variant,
                        count=count, tokens=arguments.tokens, delay=delay, creators=creators,
                    )
                )  # fmt: skip
        for level in arguments.claim_levels:
            for variant in VARIANTS:
                claims[(level, variant.name)] = await claim_phase(
                    api, settings, assistant.id, variant, count=level, creators=creators
                )
    return report(relays, engine, claims, arguments)


def _levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=_levels, default=[32, 128], help="concurrent runs (default 32,128)")
    parser.add_argument("--tokens", type=int, default=512, help="tokens per run (default 512)")
    parser.add_argument("--tokens-per-second", type=float, default=100.0, help="per run (default 100)")
    parser.add_argument("--claim-levels", type=_levels, default=[1, 8, 32], help="default 1,8,32")
    parser.add_argument("--quick", action="store_true", help="32 runs of 128 tokens; claims at 1,8")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.runs, arguments.tokens, arguments.claim_levels = [32], 128, [1, 8]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(asyncio.run(bench(arguments)))


if __name__ == "__main__":
    main()
