"""End-to-end latency a ``file_search`` call adds to a run (issue 13), side by side in one run: the same
question streamed with and without a search, alternating, on the scripted engine (no token delay), so the
difference is the worker's own cost of a search turn: reading the run's stores, embedding the queries
(all-MiniLM-L6-v2 in numpy), loading and ranking the index, recording the step under the lease, streaming
its events, and generating the extra turn.

    PYTHONPATH=functions:. .venv/bin/python -m bench.file_search_latency [--runs 10] [--paragraphs 40]

On the local stack without its worker (``bench.local.running_api_stack``: moto + the API over HTTP), the run
worker (``build_consumer``, wired as in production with the numpy query embedder) and the ingestion
consumer (the same model in numpy, instead of vLLM's pooling runner) run in this process. A document of
``--paragraphs`` paragraphs is ingested once before the runs. Each run is a ``stream: true`` create-run
request: from the request to the end of its stream. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

from bench.report import format_table, percentile, ratio

if TYPE_CHECKING:
    from infra.local_stack import LocalStack

TOPICS = ["lighthouse", "harbour", "volcano", "orchard", "glacier", "railway", "library", "market"]
QUESTION = "What does the lighthouse keeper write down at dawn?"


def document(paragraphs: int) -> bytes:
    lines = [
        f"Paragraph {index}: the {TOPICS[index % len(TOPICS)]} report lists {index * 7} items, checked by "
        f"the {TOPICS[(index * 3) % len(TOPICS)]} team every {index % 5 + 1} days."
        for index in range(paragraphs)
    ]
    lines.insert(paragraphs // 2, "The lighthouse keeper writes every passing ship into the logbook at dawn.")
    return "\n\n".join(lines).encode()


async def streamed_seconds(stack: LocalStack, body: dict[str, Any], content: str) -> float:
    from bench.local import http_client

    async with http_client(stack) as client:
        thread = (
            await client.post("/threads", json={"messages": [{"role": "user", "content": content}]})
        ).json()
        started = time.perf_counter()
        last = ""
        async with client.stream("POST", f"/threads/{thread['id']}/runs", json=body) as response:
            async for line in response.aiter_lines():
                last = line if line.startswith("event: thread.run.") and "step" not in line else last
        elapsed = time.perf_counter() - started
    if last != "event: thread.run.completed":
        raise RuntimeError(f"the run did not complete: {last}")
    return elapsed


def ingest(stack: LocalStack, paragraphs: int) -> str:
    """A store holding the document, ingested (numpy MiniLM); its id."""
    import httpx

    from assistants_core.adapters.minilm_numpy import NumpyMiniLm
    from assistants_core.settings import IngestionWorkerSettings
    from gpu_worker.ingestion.embedders import bundled_minilm_path
    from gpu_worker.ingestion.main import build_ingestion_consumer
    from infra import local_env

    resources = stack.resources
    settings = IngestionWorkerSettings.model_validate(
        {
            "table_name": resources.table_name,
            "bucket_name": resources.bucket_name,
            "run_queue_url": resources.run_queue_url,
            "ingestion_queue_url": resources.ingestion_queue_url,
            "embedding_model_path": str(bundled_minilm_path()),
            **local_env.aws_settings_values(resources.endpoint_url),
        }
    )
    consumer = build_ingestion_consumer(settings, NumpyMiniLm(bundled_minilm_path()), receive_wait_seconds=1)
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as client:
        files = {"file": ("handbook.txt", document(paragraphs), "text/plain")}
        file_id = client.post("/files", files=files, data={"purpose": "assistants"}).json()["id"]
        store: str = client.post("/vector_stores", json={"name": "bench", "file_ids": [file_id]}).json()["id"]
        stop = threading.Event()
        worker = threading.Thread(target=consumer.run_forever, args=(stop,), daemon=True)
        worker.start()
        try:
            while client.get(f"/vector_stores/{store}").json()["file_counts"]["completed"] < 1:
                time.sleep(0.1)
        finally:
            stop.set()
            worker.join(timeout=60)
    return store


async def bench(stack: LocalStack, runs: int, paragraphs: int) -> str:
    from bench.local import http_client, worker_settings
    from gpu_worker.engines.scripted import ScriptedEngine, call_marker
    from gpu_worker.ingestion.embedders import bundled_minilm_path
    from gpu_worker.wiring import build_consumer
    from infra import local_env

    store = await asyncio.to_thread(ingest, stack, paragraphs)
    settings = worker_settings(
        stack, "scripted", receive_wait_seconds=1, embedding_model_path=str(bundled_minilm_path())
    )
    consumer = build_consumer(settings, ScriptedEngine(), worker_id="bench-file-search")
    consuming = asyncio.create_task(consumer.run_forever())
    try:
        async with http_client(stack) as client:
            body = {"model": local_env.SERVED_MODEL, "instructions": "Answer from the handbook."}
            plain = (await client.post("/assistants", json=body)).json()["id"]
            resources = {"file_search": {"vector_store_ids": [store]}}
            searching = {**body, "tools": [{"type": "file_search"}], "tool_resources": resources}
            with_search = (await client.post("/assistants", json=searching)).json()["id"]
        search_question = (
            QUESTION + " " + call_marker("file_search", {"queries": ["lighthouse keeper logbook"]})
        )
        kinds = {
            "without file_search": ({"assistant_id": plain, "stream": True}, QUESTION),
            "with a file_search call": ({"assistant_id": with_search, "stream": True}, search_question),
        }
        for body_of, content in kinds.values():  # warm-up (index load, first embeddings)
            await streamed_seconds(stack, body_of, content)
        results: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(runs):
            for name, (body_of, content) in kinds.items():
                results[name].append(await streamed_seconds(stack, body_of, content))
    finally:
        consumer.stop()
        await consuming
    return report(results, paragraphs)


def report(results: dict[str, list[float]], paragraphs: int) -> str:
    names = list(results)
    baseline = percentile(results[names[0]], 0.5)
    rows = []
    for name in names:
        median = percentile(results[name], 0.5)
        rows.append(
            [
                name,
                len(results[name]),
                median * 1000,
                percentile(results[name], 0.9) * 1000,
                ratio(median, baseline),
            ]
        )
    added = (percentile(results[names[1]], 0.5) - baseline) * 1000
    return "\n".join(
        [
            f"Streamed run, request to end of stream, scripted engine, a {paragraphs}-paragraph document",
            format_table(["run", "runs", "median ms", "p90 ms", "ratio to without"], rows),
            f"a file_search call adds {added:.0f} ms (median) end to end",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="runs of each kind (default 10)")
    parser.add_argument("--paragraphs", type=int, default=40, help="paragraphs in the document (default 40)")
    arguments = parser.parse_args()
    from bench.local import running_api_stack

    with running_api_stack() as stack:
        print(asyncio.run(bench(stack, arguments.runs, arguments.paragraphs)))


if __name__ == "__main__":
    main()
