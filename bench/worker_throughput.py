"""Worker throughput and time-to-first-token on the real vLLM CPU engine (what exists locally: no GPU),
the whole pipeline vs the bare engine, side by side in one run.

    PYTHONPATH=functions:. .venv/bin/python bench/worker_throughput.py [--concurrency 1,8,32] [--tokens 128]
        [--ttft-runs 3] [--quick]

On the local stack without its worker (``start_local_stack(worker=False)``: moto here, the API in a child
process), with one ``VllmEngine`` (SmolLM2-135M-Instruct, float32, eager) in this process:
1. throughput, for each concurrency N:
   direct:   N concurrent requests straight to the engine (``engine.generate``);
   pipeline: N concurrent ``POST /threads/runs`` (HTTP, the API process: thread, message, run and its
             ``thread.run.created`` events stored, run message sent to SQS), served on the SAME engine by
             the worker wired as in production (``build_consumer``, ``max_concurrent_runs`` N): claim,
             prompt from the stored thread, generate, stream events, one finishing transaction, SQS delete.
             Completion tokens/s of both, their ratio, and the median time from a create request to the
             worker's claim of that run (its conditional update answered; ``bench.run_times``).
2. time to first token, one request at a time, median of ``--ttft-runs``:
   direct:   from ``engine.generate`` to its first text chunk;
   pipeline: from ``POST /threads/{id}/runs`` with ``stream: true`` (HTTP, the API process) to the first
             ``thread.message.delta`` event, the run served by the worker wired as in production
             (``build_consumer``; its text deltas: the first at once, then coalesced within the
             worker's write budget).
Greedy sampling; tokens are counted (replies may stop early), not assumed. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistants_core.adapters.aws import make_aws_clients
from assistants_core.settings import WorkerSettings
from bench.report import format_table, percentile, ratio
from bench.run_times import RunTimes
from gpu_worker.consumer import RunConsumer
from gpu_worker.cpu_defaults import apply_cpu_defaults
from gpu_worker.engines.base import ChatMessage, SamplingOptions
from gpu_worker.wiring import build_consumer

if TYPE_CHECKING:
    from infra.local_stack import LocalStack

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO_ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct"
SERVED_MODEL = "SmolLM2-135M-Instruct"
INSTRUCTIONS = "You are a helpful assistant."
PROMPTS = [
    "Write a long story about a dragon who learns to cook.",
    "Explain in detail how a bicycle works.",
    "Describe a walk through a busy city market.",
    "Write a long letter to a friend about your holidays.",
    "Explain why the sky is blue, step by step.",
    "Tell a long story about a robot and a cat.",
    "Describe the life cycle of a tree in detail.",
    "Write a long essay about the ocean.",
]
RECEIVE_WAIT_SECONDS = 1  # a stopped consumer returns within one long poll
TTFT_MAX_TOKENS = 16
DELTA_EVENT = "event: thread.message.delta"


PIPELINE_TIMEOUT_SECONDS = 600.0  # for all the runs of one concurrency level to finish


@dataclass(frozen=True)
class Throughput:
    concurrency: int
    direct_tokens: int
    direct_seconds: float
    pipeline_tokens: int
    pipeline_seconds: float
    median_claim_seconds: float


def _messages(index: int) -> list[ChatMessage]:
    return [ChatMessage("system", INSTRUCTIONS), ChatMessage("user", PROMPTS[index % len(PROMPTS)])]


async def direct_phase(engine: Any, count: int, max_tokens: int) -> tuple[int, float]:
    options = SamplingOptions(max_tokens=max_tokens, temperature=0.0)

    async def one(index: int) -> int:
        produced = 0
        async for chunk in engine.generate(
            f"direct-{count}-{index}-{time.time_ns()}", _messages(index), options
        ):
            produced = chunk.completion_tokens
        return produced

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(index) for index in range(count)))
    return sum(tokens), time.perf_counter() - started


async def direct_first_token(engine: Any, index: int) -> float:
    options = SamplingOptions(max_tokens=TTFT_MAX_TOKENS, temperature=0.0)
    started = time.perf_counter()
    first = 0.0
    async for chunk in engine.generate(f"ttft-{index}-{time.time_ns()}", _messages(index), options):
        if chunk.text_delta and not first:
            first = time.perf_counter() - started
    return first


async def wait_for_finished_runs(consumer: RunConsumer, consuming: asyncio.Task[None], count: int) -> None:
    """Until ``consumer`` counted ``count`` finished runs (after each run's final write and SQS delete);
    raises when the consumer stopped or ``PIPELINE_TIMEOUT_SECONDS`` passed first."""
    deadline = time.perf_counter() + PIPELINE_TIMEOUT_SECONDS
    while consumer.finished_runs < count:
        if consuming.done():
            consuming.result()  # the consumer's own error, if it had one
            raise RuntimeError(f"the consumer stopped after {consumer.finished_runs} of {count} runs")
        if time.perf_counter() > deadline:
            raise TimeoutError(
                f"only {consumer.finished_runs} of {count} runs finished within "
                f"{PIPELINE_TIMEOUT_SECONDS:g} s ({consumer.in_flight} still in flight)"
            )
        await asyncio.sleep(0.01)


async def pipeline_phase(
    engine: Any,
    stack: LocalStack,
    settings: WorkerSettings,
    assistant_id: str,
    *,
    count: int,
    max_tokens: int,
) -> tuple[int, float, float]:
    from bench.local import http_client

    production = settings.model_copy(
        update={"max_concurrent_runs": count, "default_max_completion_tokens": max_tokens}
    )
    clients, claims = make_aws_clients(production), RunTimes()
    claims.watch(clients.dynamodb)
    consumer = build_consumer(production, engine, worker_id=f"bench-pipeline-{count}", clients=clients)
    consuming = asyncio.create_task(consumer.run_forever())
    await asyncio.sleep(0.5)  # the consumer is long-polling, as a warm worker would be

    requested_at: dict[str, float] = {}
    async with http_client(stack) as client:

        async def create(index: int) -> dict[str, Any]:
            message = {"role": "user", "content": PROMPTS[index % len(PROMPTS)]}
            body = {"assistant_id": assistant_id, "thread": {"messages": [message]}}
            sent = time.perf_counter()
            response = await client.post("/threads/runs", json=body)
            response.raise_for_status()
            run: dict[str, Any] = response.json()
            requested_at[run["id"]] = sent
            return run

        started = time.perf_counter()
        try:
            created = await asyncio.gather(*(create(index) for index in range(count)))  # N concurrent clients
            await wait_for_finished_runs(consumer, consuming, count)
            elapsed = time.perf_counter() - started
        finally:
            consumer.stop()
            await consuming
        current = [
            (await client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")).json() for run in created
        ]
    statuses = {run["status"] for run in current}
    if statuses - {"completed", "incomplete"}:
        raise RuntimeError(f"unexpected run statuses {statuses}")
    if missing := set(requested_at) - set(claims.claimed_at):
        raise RuntimeError(f"no claim seen for {sorted(missing)}")
    tokens = sum(run["usage"]["completion_tokens"] for run in current)
    claim_delays = [claims.claimed_at[run_id] - sent for run_id, sent in requested_at.items()]
    return tokens, elapsed, percentile(claim_delays, 0.5)


async def streamed_first_token(stack: LocalStack, assistant_id: str, index: int) -> float:
    """Seconds from a ``stream: true`` create-run request to its first ``thread.message.delta`` event."""
    from bench.local import http_client

    async with http_client(stack) as client:
        content = PROMPTS[index % len(PROMPTS)]
        thread = (
            await client.post("/threads", json={"messages": [{"role": "user", "content": content}]})
        ).json()
        body = {
            "assistant_id": assistant_id,
            "stream": True,
        }  # the worker caps the reply (OpenAI's minimum is 256)
        first, events = 0.0, []
        started = time.perf_counter()
        async with client.stream("POST", f"/threads/{thread['id']}/runs", json=body) as response:
            async for line in response.aiter_lines():  # read to the end: the run finishes before the next
                if line == DELTA_EVENT and not first:
                    first = time.perf_counter() - started
                events.append(line)
    if not first:
        raise RuntimeError(f"the stream ended without a thread.message.delta event: {events[-4:]}")
    return first


async def first_token_phase(
    engine: Any, stack: LocalStack, settings: WorkerSettings, assistant_id: str, runs: int
) -> tuple[list[float], list[float]]:
    direct = [await direct_first_token(engine, index) for index in range(runs)]
    short_replies = settings.model_copy(update={"default_max_completion_tokens": TTFT_MAX_TOKENS})
    consumer = build_consumer(short_replies, engine, worker_id="bench-ttft")
    consuming = asyncio.create_task(consumer.run_forever())
    try:
        streamed = [await streamed_first_token(stack, assistant_id, index) for index in range(runs)]
    finally:
        consumer.stop()
        await consuming
    return direct, streamed


def report(
    results: Sequence[Throughput], direct_ttft: list[float], streamed_ttft: list[float], tokens: int
) -> str:
    rows = []
    for result in results:
        direct_rate = result.direct_tokens / result.direct_seconds
        pipeline_rate = result.pipeline_tokens / result.pipeline_seconds
        rows.append(
            [
                result.concurrency,
                result.direct_tokens,
                direct_rate,
                result.pipeline_tokens,
                pipeline_rate,
                ratio(pipeline_rate, direct_rate),
                result.median_claim_seconds * 1000,
            ]
        )
    headers = ["concurrent", "direct tokens", "direct tok/s", "pipeline tokens", "pipeline tok/s"]
    headers += ["pipeline / direct", "median create->in_progress ms"]
    direct_first, streamed_first = percentile(direct_ttft, 0.5), percentile(streamed_ttft, 0.5)
    ttft_rows = [["direct: engine.generate -> first text chunk", len(direct_ttft), direct_first * 1000, 1.0]]
    ttft_rows.append(
        [
            "pipeline: HTTP stream create run -> first thread.message.delta",
            len(streamed_ttft),
            streamed_first * 1000,
            ratio(streamed_first, direct_first),
        ]
    )
    return "\n".join(
        [
            f"Worker throughput, vLLM engine ({SERVED_MODEL}), up to {tokens} tokens per reply",
            format_table(headers, rows),
            "",
            "Time to first token (median, one request at a time)",
            format_table(["path", "runs", "median TTFT ms", "ratio to direct"], ttft_rows),
        ]
    )


async def create_greedy_assistant(stack: LocalStack) -> str:
    """The assistant both pipeline phases run (temperature 0: greedy, as the direct requests)."""
    from bench.local import http_client

    async with http_client(stack) as client:
        body = {"model": SERVED_MODEL, "instructions": INSTRUCTIONS, "temperature": 0.0}
        response = await client.post("/assistants", json=body)
        response.raise_for_status()
    assistant_id: str = response.json()["id"]
    return assistant_id


async def bench(stack: LocalStack, arguments: argparse.Namespace) -> str:
    from bench.local import worker_settings
    from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig

    engine_settings: dict[str, Any] = {"engine_max_model_len": 2048}
    if arguments.gpu:  # eager: no graph capture at start (the check has minutes, not hours)
        engine_settings.update(engine_dtype="bfloat16", engine_enforce_eager=True)
        engine_settings.update(engine_gpu_memory_utilization=0.5)
    settings = worker_settings(
        stack, str(MODEL_DIR), receive_wait_seconds=RECEIVE_WAIT_SECONDS, **engine_settings
    )
    engine = VllmEngine.start(VllmEngineConfig.from_settings(settings))
    try:
        assistant_id = await create_greedy_assistant(stack)
        results = []
        for count in arguments.concurrency:
            await direct_phase(engine, count, 4)  # warm-up: the engine's first batch of a new size is slow
            direct_tokens, direct_seconds = await direct_phase(engine, count, arguments.tokens)
            pipeline = await pipeline_phase(
                engine, stack, settings, assistant_id, count=count, max_tokens=arguments.tokens
            )
            results.append(Throughput(count, direct_tokens, direct_seconds, *pipeline))
        direct_ttft, streamed_ttft = await first_token_phase(
            engine, stack, settings, assistant_id, arguments.ttft_runs
        )
    finally:
        engine.shutdown()
    return report(results, direct_ttft, streamed_ttft, arguments.tokens)


def _concurrency_levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=_concurrency_levels, default=[1, 8, 32], help="default 1,8,32")
    parser.add_argument("--tokens", "--max-tokens", type=int, default=128, help="max tokens per reply (128)")
    parser.add_argument("--ttft-runs", type=int, default=3, help="requests per TTFT median (default 3)")
    parser.add_argument("--quick", action="store_true", help="concurrency 1,8, 32 tokens, 2 TTFT runs")
    parser.add_argument(
        "--gpu", action="store_true", help="vLLM's CUDA build: bfloat16, no CPU settings (bench/gpu_check.sh)"
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.concurrency, arguments.tokens, arguments.ttft_runs = [1, 8], 32, 2
    if not (MODEL_DIR / "config.json").is_file():
        raise SystemExit(f"no converted model at {MODEL_DIR}: run `make model`")
    # Imported here, not at the top: vLLM's engine process re-imports this module (spawn), and Flask's
    # context proxies from the moto server break model loading there.
    from bench.local import running_api_stack

    if not arguments.gpu:
        apply_cpu_defaults()
    with running_api_stack() as stack:
        print(asyncio.run(bench(stack, arguments)))


if __name__ == "__main__":
    main()
