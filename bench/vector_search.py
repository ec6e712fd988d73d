"""Vector stores: ingestion throughput and search latency, each side by side with a baseline in one run.

``python -m bench.vector_search [--no-vllm] [--sizes 1000 100000]`` against moto in this process (S3,
DynamoDB, SQS as the API and the ingestion worker use them):

- ingestion: documents uploaded, added to a store, and consumed by ``IngestionConsumer`` (parse, chunk at
  800/400 tokens, embed, write the index object, finish the file); chunks/s and MB/min with the hashing
  embedder (the pipeline without a model) and with all-MiniLM-L6-v2 on vLLM's CPU pooling runner;
- search: a store of N synthetic chunks (files of 1,000 chunks, random unit vectors, 40-word texts);
  ``VectorStoreSearchService`` (index objects cached per process, numpy, hybrid BM25) against the brute-force
  baseline (every query reads every index object from S3 and scores it with numpy, vector only). The query
  vector is fixed, so both measure the index, not the query embedding.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from moto import mock_aws

from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.s3_chunks import S3ChunkIndex
from assistants_core.adapters.s3_objects import S3ObjectStore
from assistants_core.adapters.sqs_ingestion import SqsIngestionQueue
from assistants_core.domain.chunks import IndexedFile
from assistants_core.domain.files import new_file_id
from assistants_core.domain.models import PageRequest
from assistants_core.domain.vector_stores import FileStatus, VectorStoreFile
from assistants_core.file_ports import Embedder
from assistants_core.schemas.vector_stores import CreateVectorStoreRequest, VectorStoreSearchRequest
from assistants_core.services.clock import SystemClock
from assistants_core.services.files import FileService
from assistants_core.services.vector_store_files import VectorStoreFileService
from assistants_core.services.vector_store_search import VectorStoreSearchService
from assistants_core.services.vector_stores import VectorStoreService
from assistants_core.settings import AwsSettings
from bench.report import format_table, percentile, ratio
from gpu_worker.ingestion.chunking import TokenCounter
from gpu_worker.ingestion.consumer import IngestionConfig, IngestionConsumer
from gpu_worker.ingestion.embedders import HashingEmbedder, bundled_minilm_path
from infra import moto_dynamodb
from infra.aws_resources import ResourceNames, create_resources

OWNER = "bench"
DIMENSIONS = 384
CHUNKS_PER_FILE = 1000
VOCABULARY = [f"w{index}" for index in range(2000)]


@dataclass
class Bench:
    clients: AwsClients
    resources: ResourceNames
    table: DynamoTable
    repository: DynamoVectorStoreRepository
    files: DynamoFileRepository
    objects: S3ObjectStore
    index: S3ChunkIndex
    file_service: FileService
    stores: VectorStoreService
    counter: TokenCounter


@contextmanager
def aws_in_process() -> Iterator[None]:
    """moto in this process (DynamoDB with the project's transaction fixes), with placeholder credentials."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    moto_dynamodb.install()
    with mock_aws():
        yield


def make_bench(prefix: str) -> Bench:
    clients = make_aws_clients(AwsSettings(table_name="-", bucket_name="-", run_queue_url="-"))
    resources = create_resources(clients, prefix=prefix)
    bucket = resources.bucket_name
    table = DynamoTable(clients.dynamodb, resources.table_name, S3BodyStore(clients.s3, bucket))
    repository = DynamoVectorStoreRepository(table)
    files = DynamoFileRepository(table)
    objects = S3ObjectStore(clients.s3, bucket)
    index = S3ChunkIndex(clients.s3, bucket)
    clock = SystemClock()
    queue = SqsIngestionQueue(clients.sqs, resources.ingestion_queue_url)
    store_files = VectorStoreFileService(repository, files, queue, index, clock)
    return Bench(
        clients=clients,
        resources=resources,
        table=table,
        repository=repository,
        files=files,
        objects=objects,
        index=index,
        file_service=FileService(files, objects, clock, detach=store_files.detach_everywhere),
        stores=VectorStoreService(repository, files, store_files, index, clock),
        counter=TokenCounter(bundled_minilm_path() / "tokenizer.json"),
    )


def ingestion_consumer(bench: Bench, embedder: Embedder) -> IngestionConsumer:
    """The ingestion worker's consumer over the bench's moto resources, not waiting on an empty queue."""
    return IngestionConsumer(
        SqsIngestionQueue(bench.clients.sqs, bench.resources.ingestion_queue_url),
        bench.repository,
        files=bench.files,
        objects=bench.objects,
        index=bench.index,
        embedder=embedder,
        counter=bench.counter,
        clock=SystemClock(),
        config=IngestionConfig(receive_wait_seconds=0),
    )


def prose(rng: random.Random, words: int) -> str:
    sentences = []
    while words > 0:
        length = min(words, rng.randint(8, 20))
        sentences.append(" ".join(rng.choice(VOCABULARY) for _ in range(length)).capitalize() + ".")
        words -= length
    return " ".join(sentences)


def measure_ingestion(
    bench: Bench, embedder: Embedder, *, documents: int, words: int
) -> tuple[int, float, float]:
    """(chunks, seconds, megabytes) to ingest ``documents`` text files of ``words`` words."""
    rng = random.Random(7)
    file_ids = []
    total_bytes = 0
    for index in range(documents):
        data = prose(rng, words).encode()
        total_bytes += len(data)
        file_ids.append(
            bench.file_service.create(
                OWNER, filename=f"doc{index}.txt", purpose="assistants", data=data, content_type="text/plain"
            ).id
        )
    bench.stores.create(OWNER, CreateVectorStoreRequest(name="ingest", file_ids=file_ids))
    consumer = ingestion_consumer(bench, embedder)
    chunks = 0
    started = time.perf_counter()
    while True:
        outcomes = consumer.run_once()
        if not outcomes:
            break
        chunks += sum(outcome.chunks for outcome in outcomes)
    return chunks, time.perf_counter() - started, total_bytes / 1e6


class FixedEmbedder:
    name = "fixed"
    dimensions = DIMENSIONS

    def __init__(self, vector: list[float]) -> None:
        self.vector = vector

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vector for _ in texts]


def synthetic_store(bench: Bench, chunks: int, rng: np.random.Generator) -> str:
    store = bench.stores.create(OWNER, CreateVectorStoreRequest(name=f"synthetic-{chunks}"))
    words = np.array(VOCABULARY)
    for start in range(0, chunks, CHUNKS_PER_FILE):
        count = min(CHUNKS_PER_FILE, chunks - start)
        vectors = rng.standard_normal((count, DIMENSIONS)).astype("<f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [" ".join(row) for row in words[rng.integers(0, len(words), size=(count, 40))]]
        file_id = new_file_id(int(time.time() * 1000))
        file = VectorStoreFile(
            id=file_id,
            owner=OWNER,
            vector_store_id=store.id,
            created_at=int(time.time()),
            filename=f"{file_id}.txt",
        )
        bench.repository.add_file(file)
        size = bench.index.write_file_chunks(
            store.id,
            file_id,
            IndexedFile(
                model="random", dimensions=DIMENSIONS, text="", chunks=texts, vectors=vectors.tobytes()
            ),
        )
        bench.repository.finish_file(file, FileStatus.COMPLETED, usage_bytes=size)
    return store.id


def brute_force_search(
    bench: Bench, store_id: str, query: np.ndarray, limit: int
) -> list[tuple[str, int, float]]:
    """The baseline: read every completed file's index object from S3, score all chunks, keep the top."""
    hits: list[tuple[str, int, float]] = []
    after = None
    while True:
        page = bench.repository.list_files(
            store_id, PageRequest(limit=100, order="asc", after=after), status=FileStatus.COMPLETED
        )
        for file in page.data:
            indexed = bench.index.read_file_chunks(store_id, file.id)
            assert indexed is not None
            matrix = np.frombuffer(indexed.vectors, dtype="<f4").reshape(
                len(indexed.chunks), indexed.dimensions
            )
            scores = matrix @ query
            top = np.argsort(-scores)[:limit]
            hits += [(file.id, int(i), float(scores[i])) for i in top]
        if not page.has_more:
            break
        after = page.data[-1].id
    return sorted(hits, key=lambda hit: -hit[2])[:limit]


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def search_row(
    bench: Bench, search: VectorStoreSearchService, query: np.ndarray, size: int, rng: np.random.Generator
) -> list[object]:
    store_id = synthetic_store(bench, size, rng)
    request = VectorStoreSearchRequest(query="w1 w2 w3", max_num_results=10)

    def ours() -> object:
        return search.search(OWNER, store_id, request)

    def baseline() -> object:
        return brute_force_search(bench, store_id, query, 10)

    cold = timed(ours, 1)[0]
    warm = timed(ours, 30 if size <= 10_000 else 10)
    brute = timed(baseline, 20 if size <= 10_000 else 5)
    p50, brute_p50 = percentile(warm, 0.5), percentile(brute, 0.5)
    return [
        size,
        cold,
        p50,
        percentile(warm, 0.99),
        brute_p50,
        percentile(brute, 0.99),
        ratio(p50, brute_p50),
    ]


def print_search_table(bench: Bench, sizes: list[int]) -> None:
    rng = np.random.default_rng(11)
    query = rng.standard_normal(DIMENSIONS).astype(np.float32)
    query /= np.linalg.norm(query)
    embedder = FixedEmbedder([float(value) for value in query])
    search = VectorStoreSearchService(bench.repository, bench.index, embedder, SystemClock())
    rows = [search_row(bench, search, query, size, rng) for size in sizes]
    print()
    print(
        "Search latency, ms (hybrid top 10; baseline: every index object read from S3 + numpy, vector only):"
    )
    headers = ["chunks", "first query", "p50", "p99", "baseline p50", "baseline p99", "p50 / baseline"]
    print(format_table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-vllm", action="store_true", help="skip the real embedding model")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--documents", type=int, default=8)
    parser.add_argument("--words", type=int, default=1500)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with aws_in_process():
        bench = make_bench("bench")
        rows = []
        embedders: list[tuple[str, Callable[[], Embedder]]] = [("hashing (no model)", HashingEmbedder)]
        if not arguments.no_vllm:
            from gpu_worker.cpu_defaults import apply_cpu_defaults
            from gpu_worker.ingestion.embedders import VllmEmbedder

            apply_cpu_defaults()
            embedders.append(
                ("all-MiniLM-L6-v2 on vLLM CPU", lambda: VllmEmbedder.load(bundled_minilm_path()))
            )
        baseline_rate = 0.0
        for label, make in embedders:
            started = time.perf_counter()
            embedder = make()
            load = time.perf_counter() - started
            chunks, seconds, megabytes = measure_ingestion(
                bench, embedder, documents=arguments.documents, words=arguments.words
            )
            rate = chunks / seconds
            baseline_rate = baseline_rate or rate
            rows.append(
                [
                    label,
                    f"{load:.1f}",
                    arguments.documents,
                    f"{megabytes:.2f}",
                    chunks,
                    f"{seconds:.1f}",
                    rate,
                    megabytes / seconds * 60,
                    ratio(rate, baseline_rate),
                ]
            )
        print("Ingestion (text files, 800/400-token chunks, one consumer, moto in-process):")
        print(
            format_table(
                [
                    "embedder",
                    "load s",
                    "files",
                    "MB",
                    "chunks",
                    "seconds",
                    "chunks/s",
                    "MB/min",
                    "vs hashing",
                ],
                rows,
            )
        )

        print_search_table(bench, arguments.sizes)


if __name__ == "__main__":
    main()
