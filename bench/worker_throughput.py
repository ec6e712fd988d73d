"""Worker throughput on the real CPU engine: the whole pipeline vs the bare engine, side by side in one run.

    PYTHONPATH=functions:. .venv/bin/python bench/worker_throughput.py [--runs 8] [--max-tokens 128]

1. direct:   N concurrent requests straight to one ``VllmEngine`` (``engine.generate``);
2. pipeline: N runs on N threads stored in DynamoDB and sent to SQS (a moto server on 127.0.0.1, as in the
   local stack), consumed by ``RunConsumer`` on the SAME engine: claim, prompt from the stored thread,
   generate, one finishing transaction, SQS delete.
Prints aggregate completion tokens/s of both, their ratio, and the median time from run create to claim.
Both phases use the same prompts, greedy sampling and ``ignore_eos`` is not available to runs, so tokens are
counted, not assumed. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistants_core.adapters.aws import make_aws_clients
from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunRepository,
    DynamoTable,
    DynamoThreadRepository,
)
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.domain import ids
from assistants_core.domain.models import Message, Run, Thread
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunRef
from assistants_core.services.clock import SystemClock
from assistants_core.settings import AwsSettings
from gpu_worker.consumer import ConsumerConfig, RunConsumer
from gpu_worker.cpu_defaults import apply_cpu_defaults
from gpu_worker.engines.base import ChatMessage, SamplingOptions
from infra import local_env
from infra.aws_resources import create_resources

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO_ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct"
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


@dataclass
class ClaimRecorder:
    """Wraps the run repository to time each successful claim."""

    inner: DynamoRunRepository
    claimed_at: dict[str, float] = field(default_factory=dict)

    def claim_run(self, thread_id: str, run_id: str, **kwargs: Any) -> Run | None:
        run = self.inner.claim_run(thread_id, run_id, **kwargs)
        if run is not None:
            self.claimed_at.setdefault(run_id, time.perf_counter())
        return run

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def direct_phase(engine: Any, count: int, max_tokens: int) -> tuple[int, float]:
    options = SamplingOptions(max_tokens=max_tokens, temperature=0.0)

    async def one(index: int) -> int:
        messages = [ChatMessage("system", INSTRUCTIONS), ChatMessage("user", PROMPTS[index % len(PROMPTS)])]
        produced = 0
        async for chunk in engine.generate(f"direct-{index}", messages, options):
            produced = chunk.completion_tokens
        return produced

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(index) for index in range(count)))
    return sum(tokens), time.perf_counter() - started


async def pipeline_phase(
    engine: Any, endpoint_url: str, count: int, max_tokens: int
) -> tuple[int, float, float]:
    settings = AwsSettings.model_validate(
        {
            "table_name": "",
            "bucket_name": "",
            "run_queue_url": "",
            **local_env.aws_settings_values(endpoint_url),
        }
    )
    clients = make_aws_clients(settings)
    names = create_resources(clients, prefix=f"bench-{int(time.time())}")
    table = DynamoTable(clients.dynamodb, names.table_name, S3BodyStore(clients.s3, names.bucket_name))
    threads, runs = DynamoThreadRepository(table), ClaimRecorder(DynamoRunRepository(table))
    queue = SqsRunQueue(clients.sqs, names.run_queue_url)
    config = ConsumerConfig(max_concurrent_runs=count, default_max_completion_tokens=max_tokens)
    consumer = RunConsumer(
        queue,
        runs,
        DynamoMessageRepository(table),
        engine,
        config=config,
        clock=SystemClock(),
        worker_id="bench",
    )
    consuming = asyncio.create_task(consumer.run_forever())
    await asyncio.sleep(0.5)  # the consumer is long-polling, as a warm worker would be

    created_at: dict[str, float] = {}

    async def create(index: int) -> Run:
        """What the API's create-run does: store thread, message and run, then send the run message."""
        now = int(time.time())
        thread = Thread(id=ids.new_id(ids.THREAD), owner="bench", created_at=now)
        text = PROMPTS[index % len(PROMPTS)]
        content = [{"type": "text", "text": {"value": text, "annotations": []}}]
        message = Message(ids.new_id(ids.MESSAGE), "bench", thread.id, now, "user", content)
        run = Run(
            id=ids.new_id(ids.RUN), owner="bench", thread_id=thread.id, assistant_id="asst_bench",
            created_at=now, status=RunStatus.QUEUED, model="SmolLM2-135M-Instruct",
            instructions=INSTRUCTIONS, expires_at=now + 600, temperature=0.0,
            max_completion_tokens=max_tokens,
        )  # fmt: skip
        await asyncio.to_thread(threads.create_thread, thread, [message])
        await asyncio.to_thread(runs.create_run, run, [])
        created_at[run.id] = time.perf_counter()
        await asyncio.to_thread(queue.enqueue_run, RunRef(thread.id, run.id))
        return run

    started = time.perf_counter()
    stored_runs = await asyncio.gather(*(create(index) for index in range(count)))  # 8 concurrent clients
    while consumer.finished_runs < count:  # counted after each run's final write and SQS delete
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    consumer.stop()
    await consuming
    current = [runs.find_run(run.thread_id, run.id) for run in stored_runs]
    statuses = {str(c.status) for c in current if c is not None}
    if statuses - {"completed", "incomplete"}:
        raise RuntimeError(f"unexpected run statuses {statuses}")
    tokens = sum(c.usage.completion_tokens for c in current if c is not None and c.usage is not None)
    claim_delays = [runs.claimed_at[run_id] - created for run_id, created in created_at.items()]
    return tokens, elapsed, statistics.median(claim_delays)


async def bench(count: int, max_tokens: int, endpoint_url: str) -> None:
    from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig

    config = VllmEngineConfig(
        model_path=str(MODEL_DIR),
        served_model_name="SmolLM2-135M-Instruct",
        dtype="float32",
        enforce_eager=True,
        max_model_len=2048,
    )
    engine = VllmEngine.start(config)
    try:
        await direct_phase(engine, 2, 8)  # warm-up
        direct_tokens, direct_seconds = await direct_phase(engine, count, max_tokens)
        pipe_tokens, pipe_seconds, median_claim = await pipeline_phase(
            engine, endpoint_url, count, max_tokens
        )
    finally:
        engine.shutdown()
    direct_rate, pipe_rate = direct_tokens / direct_seconds, pipe_tokens / pipe_seconds
    print(f"direct   : {count} concurrent requests, {direct_tokens} tokens in {direct_seconds:.2f} s "
          f"= {direct_rate:.1f} tokens/s")  # fmt: skip
    print(f"pipeline : {count} concurrent runs,     {pipe_tokens} tokens in {pipe_seconds:.2f} s "
          f"= {pipe_rate:.1f} tokens/s")  # fmt: skip
    print(f"ratio pipeline/direct = {pipe_rate / direct_rate:.2f}")
    print(f"median run create -> claim = {median_claim * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    if not (MODEL_DIR / "config.json").is_file():
        raise SystemExit(f"no converted model at {MODEL_DIR}: run `make model`")
    # Imported here, not at the top: vLLM's engine process re-imports this module (spawn), and Flask's
    # context proxies from the moto server break model loading there.
    from moto.server import ThreadedMotoServer

    from infra.local_stack import free_port

    apply_cpu_defaults()
    local_env.use_moto_credentials()
    port = free_port()
    server = ThreadedMotoServer(ip_address=local_env.LOCAL_HOST, port=port, verbose=False)
    server.start()
    try:
        asyncio.run(bench(args.runs, args.max_tokens, f"http://{local_env.LOCAL_HOST}:{port}"))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
