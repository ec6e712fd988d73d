"""Sizing the stream Lambda (``StreamFunction`` in template.yaml) from a measurement: CPU time and memory of
the production app serving streamed runs.

    PYTHONPATH=functions:. .venv/bin/python -m bench.stream_memory [--levels 1,4,16] [--reply-tokens 256]
        [--tokens-per-second 50]

The local stack's API (``bench.local.running_api_stack``): the production app under uvicorn in its own
process, as ``functions/run_stream_server.sh`` runs it behind the Lambda Web Adapter; moto and ONE
production-wired worker (scripted engine, ``--reply-tokens`` at ``--tokens-per-second`` per run) run in this
process, so the API process's CPU is the stream reader's own (plus the run create in the same request).
For each level N, N clients at once each send ``POST /threads/runs`` with ``stream: true`` and read the
stream to its end; measured from ``/proc`` of the API process: CPU seconds per streamed run and per second of
stream, and its resident memory (peak since start). Lambda gives a function CPU in proportion to its memory
(1,769 MB = one vCPU) and runs one request per execution environment at a time, so the level-1 numbers are
what one stream's environment needs; the higher levels show they do not grow with load elsewhere.

Recommended ``MemorySize`` (printed): the larger of (a) peak resident memory x 1.25 + 32 MB (the adapter
extension and headroom) and (b) the memory whose vCPU share keeps the stream's CPU at most 25% busy (bursts
of events are then sent within about 4x their CPU time), rounded up to 64 MB, at least 128 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.local import http_client, running_api_stack, worker_settings
from bench.report import format_table
from gpu_worker.engines.scripted import ScriptedEngine
from gpu_worker.wiring import build_consumer
from infra.aws_resources import load_template
from infra.local_env import SERVED_MODEL
from infra.local_stack import LocalStack

LAMBDA_MB_PER_VCPU = 1769
MAX_CPU_BUSY = 0.25
RSS_FACTOR, ADAPTER_MB = 1.25, 32
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessSample:
    cpu_seconds: float
    rss_mb: float
    peak_rss_mb: float


def sample(pid: int) -> ProcessSample:
    """CPU seconds (user + system) and resident memory of ``pid`` and its children, from ``/proc``. A child
    that exited meanwhile, or a zombie (no memory left to report), adds nothing."""
    cpu, rss, peak = 0.0, 0.0, 0.0
    for process in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
            status_text = Path(f"/proc/{process}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        status = dict(line.split(":", 1) for line in status_text.splitlines() if ":" in line)
        if "VmRSS" not in status:  # a zombie
            continue
        cpu += (int(fields[11]) + int(fields[12])) / _TICKS
        rss += int(status["VmRSS"].split()[0]) / 1024
        peak += int(status["VmHWM"].split()[0]) / 1024
    return ProcessSample(cpu, rss, peak)


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [grandchild for child in map(int, children) for grandchild in [child, *_descendants(child)]]


def app_process(stack: LocalStack) -> int:
    """The uvicorn process serving the API (the guard that leads its group is not the app)."""
    guard = stack.children["api"].pid
    (server,) = [int(child) for child in Path(f"/proc/{guard}/task/{guard}/children").read_text().split()]
    return server


async def _streamed_run(client: httpx.AsyncClient, assistant_id: str) -> float:
    """Seconds from sending a streamed create to the stream's end."""
    started = time.perf_counter()
    body = {"assistant_id": assistant_id, "stream": True,
            "thread": {"messages": [{"role": "user", "content": "Please answer at length."}]}}  # fmt: skip
    async with client.stream("POST", "/threads/runs", json=body) as response:
        response.raise_for_status()
        async for _ in response.aiter_lines():
            pass
    return time.perf_counter() - started


@dataclass(frozen=True)
class Level:
    streams: int
    cpu_ms_per_run: float
    stream_seconds: float
    cpu_busy: float  # CPU seconds per second of stream, per stream
    peak_rss_mb: float


async def measure(arguments: argparse.Namespace) -> tuple[ProcessSample, list[Level]]:
    with running_api_stack() as stack:
        pid = app_process(stack)
        started = sample(pid)  # the app imported, built and answering: what a cold start costs
        settings = worker_settings(stack, "scripted", max_concurrent_runs=max(arguments.levels))
        engine = ScriptedEngine(
            reply_tokens=arguments.reply_tokens, token_delay_seconds=1.0 / arguments.tokens_per_second
        )
        consumer = build_consumer(settings, engine, worker_id="bench-stream-memory")
        consuming = asyncio.create_task(consumer.run_forever())
        levels = []
        try:
            async with http_client(stack) as client:
                body = {"model": SERVED_MODEL, "instructions": "Hi."}  # the engine is scripted anyway
                assistant_id = (await client.post("/assistants", json=body)).raise_for_status().json()["id"]
                await _streamed_run(client, assistant_id)  # warm: first-request work is not per stream
                for streams in arguments.levels:
                    before = sample(pid)
                    durations = await asyncio.gather(
                        *(_streamed_run(client, assistant_id) for _ in range(streams))
                    )
                    after = sample(pid)
                    cpu = after.cpu_seconds - before.cpu_seconds
                    seconds = sum(durations)
                    levels.append(Level(streams, cpu / streams * 1000, seconds / streams, cpu / seconds,
                                        after.peak_rss_mb))  # fmt: skip
        finally:
            consumer.stop()
            await consuming
    return started, levels


def recommended_memory_mb(one_stream: Level) -> tuple[int, int, int]:
    """(recommended, by memory, by CPU) MB for one stream per execution environment."""
    by_memory = math.ceil(one_stream.peak_rss_mb * RSS_FACTOR + ADAPTER_MB)
    by_cpu = math.ceil(one_stream.cpu_busy / MAX_CPU_BUSY * LAMBDA_MB_PER_VCPU)
    return max(128, math.ceil(max(by_memory, by_cpu) / 64) * 64), by_memory, by_cpu


def report(started: ProcessSample, levels: list[Level], arguments: argparse.Namespace) -> str:
    configured = load_template()["Resources"]["StreamFunction"]["Properties"]["MemorySize"]
    recommended, by_memory, by_cpu = recommended_memory_mb(levels[0])
    rows = [[level.streams, level.cpu_ms_per_run, level.stream_seconds, level.cpu_busy * 100,
             level.peak_rss_mb] for level in levels]  # fmt: skip
    headers = ["streams at once", "API CPU ms per streamed run", "stream s", "CPU % of one core per stream",
               "peak RSS MB"]  # fmt: skip
    share = configured / LAMBDA_MB_PER_VCPU
    return "\n".join(
        [
            "Stream Lambda sizing: the production app (uvicorn, as run_stream_server.sh) serving streams",
            f"- each run: POST /threads/runs with stream: true read to its end; scripted engine, "
            f"{arguments.reply_tokens} tokens at {arguments.tokens_per_second:g} tokens/s; moto and the "
            "worker in the bench's process",
            f"- the app's start (import, build, first answer): {started.cpu_seconds:.2f} CPU s, "
            f"{started.rss_mb:.0f} MB resident",
            "",
            format_table(headers, rows),
            "",
            f"one stream per environment needs {by_memory} MB by memory (peak RSS x {RSS_FACTOR} + "
            f"{ADAPTER_MB} MB) and {by_cpu} MB by CPU (at most {MAX_CPU_BUSY:.0%} of the vCPU share, "
            f"{LAMBDA_MB_PER_VCPU} MB = 1 vCPU): recommended MemorySize {recommended} MB; template.yaml has "
            f"{configured} MB ({share:.2f} vCPU: a stream keeps it {levels[0].cpu_busy / share:.0%} busy, "
            f"its start takes about {started.cpu_seconds / min(share, 1.0):.1f} s of CPU at that share)",
        ]
    )


def _levels(text: str) -> list[int]:
    return sorted(int(value) for value in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--levels",
        type=_levels,
        default=[1, 4, 16],
        help="streams at once (default 1,4,16; the local API's tenant may open 20)",
    )
    parser.add_argument("--reply-tokens", type=int, default=256, help="tokens per reply (default 256)")
    parser.add_argument("--tokens-per-second", type=float, default=50.0, help="per run (default 50)")
    arguments = parser.parse_args()
    started, levels = asyncio.run(measure(arguments))
    print(report(started, levels, arguments))


if __name__ == "__main__":
    main()
