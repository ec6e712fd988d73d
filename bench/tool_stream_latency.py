"""Streamed time to first delta of a run that offers a function tool, side by side with the same run
without tools, in one run on the real vLLM CPU engine (issue 14: a tool-offering turn used to show nothing
until its whole reply was generated).

    PYTHONPATH=functions:. .venv/bin/python -m bench.tool_stream_latency [--runs 3] [--tokens 64]

On the local stack without its worker (``bench.local.running_api_stack``), one ``VllmEngine``
(SmolLM2-135M-Instruct, float32, eager) serves the worker wired as in production (``build_consumer``).
Each pair of runs (alternating, same prompt, greedy) is a ``stream: true`` create-run request over HTTP:
from the request to the first ``thread.message.delta`` (or, when the model calls the function, the first
``thread.run.step.delta``) and to the end of the stream. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.report import format_table, percentile, ratio
from gpu_worker.cpu_defaults import apply_cpu_defaults
from gpu_worker.wiring import build_consumer

if TYPE_CHECKING:
    from infra.local_stack import LocalStack

PROMPTS = ["Tell me a short story about a cat.", "Explain how a bicycle works.", "Describe a city market."]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
FIRST_DELTAS = ("event: thread.message.delta", "event: thread.run.step.delta")


@dataclass(frozen=True, slots=True)
class Streamed:
    first_delta: float  # seconds from the request to the first text (or tool call) delta
    whole: float  # seconds from the request to the end of the stream
    first_kind: str


async def streamed_run(stack: LocalStack, body: dict[str, Any], prompt: str) -> Streamed:
    from bench.local import http_client

    async with http_client(stack) as client:
        messages = [{"role": "user", "content": prompt}]
        thread = (await client.post("/threads", json={"messages": messages})).json()
        first, kind, lines = 0.0, "", []
        started = time.perf_counter()
        async with client.stream("POST", f"/threads/{thread['id']}/runs", json=body) as response:
            async for line in response.aiter_lines():
                if line in FIRST_DELTAS and not first:
                    first, kind = time.perf_counter() - started, line.removeprefix("event: thread.")
                lines.append(line)
        whole = time.perf_counter() - started
    if not first:
        raise RuntimeError(f"the stream ended without a delta: {lines[-4:]}")
    return Streamed(first, whole, kind)


async def bench(stack: LocalStack, runs: int, tokens: int) -> str:
    from bench.local import http_client, worker_settings
    from bench.worker_throughput import MODEL_DIR, SERVED_MODEL
    from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig

    settings = worker_settings(
        stack,
        str(MODEL_DIR),
        receive_wait_seconds=1,
        engine_max_model_len=2048,
        default_max_completion_tokens=tokens,  # the API's max_completion_tokens starts at 256, as OpenAI's
    )
    engine = VllmEngine.start(VllmEngineConfig.from_settings(settings))
    consumer = build_consumer(settings, engine, worker_id="bench-tool-stream")
    consuming = asyncio.create_task(consumer.run_forever())
    try:
        async with http_client(stack) as client:
            body = {"model": SERVED_MODEL, "temperature": 0.0, "instructions": "You are a helpful assistant."}
            assistant = (await client.post("/assistants", json=body)).json()["id"]
        base: dict[str, Any] = {"assistant_id": assistant, "stream": True}
        results: dict[str, list[Streamed]] = {"no tools": [], "function tool offered": []}
        await streamed_run(stack, base, PROMPTS[0])  # warm-up
        for index in range(runs):
            prompt = PROMPTS[index % len(PROMPTS)]
            results["no tools"].append(await streamed_run(stack, base, prompt))
            results["function tool offered"].append(
                await streamed_run(stack, {**base, "tools": [WEATHER]}, prompt)
            )
    finally:
        consumer.stop()
        await consuming
        engine.shutdown()
    return report(results, tokens)


def report(results: dict[str, list[Streamed]], tokens: int) -> str:
    baseline = percentile([r.first_delta for r in results["no tools"]], 0.5)
    rows = []
    for name, streamed in results.items():
        first = percentile([r.first_delta for r in streamed], 0.5)
        whole = percentile([r.whole for r in streamed], 0.5)
        kinds = ", ".join(sorted({r.first_kind for r in streamed}))
        rows.append([name, len(streamed), first * 1000, ratio(first, baseline), whole * 1000, kinds])
    headers = ["run", "runs", "median first delta ms", "ratio to no tools", "median whole stream ms"]
    return "\n".join(
        [
            f"Streamed time to first delta, vLLM CPU engine, up to {tokens} tokens, one run at a time",
            format_table([*headers, "first delta"], rows),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind (default 3)")
    parser.add_argument("--tokens", type=int, default=64, help="max completion tokens per run (64)")
    arguments = parser.parse_args()
    from bench.worker_throughput import MODEL_DIR

    if not (MODEL_DIR / "config.json").is_file():
        raise SystemExit(f"no converted model at {MODEL_DIR}: run `make model`")
    # Imported here: vLLM's engine process re-imports this module (spawn); see bench.worker_throughput.
    from bench.local import running_api_stack

    apply_cpu_defaults()
    with running_api_stack() as stack:
        print(asyncio.run(bench(stack, arguments.runs, arguments.tokens)))


if __name__ == "__main__":
    main()
