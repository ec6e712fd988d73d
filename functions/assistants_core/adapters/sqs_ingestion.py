"""The SQS ingestion queue: one message per (vector store, file) to parse, chunk, embed and index
(implements ``file_ports.IngestionQueue`` and ``IngestionQueueConsumer``)."""

from __future__ import annotations

import json
from typing import Any

from assistants_core.adapters.errors import aws_errors
from assistants_core.adapters.sqs_queue import SqsMessages, decode_message_fields
from assistants_core.domain.errors import StorageError
from assistants_core.file_ports import IngestionRef, ReceivedIngestion


def encode_ingestion_message(ref: IngestionRef) -> str:
    return json.dumps({"vector_store_id": ref.vector_store_id, "file_id": ref.file_id}, separators=(",", ":"))


def decode_ingestion_message(body: str) -> IngestionRef | None:
    fields = decode_message_fields(body, ("vector_store_id", "file_id"))
    return IngestionRef(vector_store_id=fields[0], file_id=fields[1]) if fields is not None else None


class SqsIngestionQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._messages = SqsMessages(client, queue_url, decode_ingestion_message, "ingestion")

    def enqueue_ingestion(self, ref: IngestionRef) -> None:
        with aws_errors("sqs.send_message"):
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=encode_ingestion_message(ref))

    def receive_ingestions(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedIngestion]:
        """Long-poll; malformed messages are logged and deleted."""
        received = self._messages.receive(max_messages=max_messages, wait_seconds=wait_seconds)
        return [ReceivedIngestion(ref, handle, count) for ref, handle, count in received]

    def delete_ingestion_message(self, receipt_handle: str) -> None:
        self._messages.delete(receipt_handle)

    def extend_visibility(self, receipt_handle: str, seconds: int) -> None:
        self._messages.extend_visibility(receipt_handle, seconds)

    def approximate_depth(self) -> int:
        """Files waiting to be ingested (the Modal app's autoscale spawns ingestion consumers for them)."""
        return self._messages.approximate_depth()


class NoIngestionQueue:
    """Stands in when ``ASSISTANTS_INGESTION_QUEUE_URL`` is unset: nothing can be ingested, so every file
    added to a vector store fails at once with a server_error (``VectorStoreFileService.attach``)."""

    def enqueue_ingestion(self, ref: IngestionRef) -> None:
        raise StorageError("No ingestion queue is configured (ASSISTANTS_INGESTION_QUEUE_URL).")
