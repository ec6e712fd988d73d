"""The SQS ingestion queue: one message per (vector store, file) to parse, chunk, embed and index
(implements ``file_ports.IngestionQueue`` and ``IngestionQueueConsumer``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from assistants_core.adapters.errors import aws_errors
from assistants_core.adapters.sqs_queue import MAX_RECEIVE_BATCH, MAX_VISIBILITY_SECONDS, MAX_WAIT_SECONDS
from assistants_core.domain.errors import StorageError
from assistants_core.file_ports import IngestionRef, ReceivedIngestion

logger = logging.getLogger(__name__)


def encode_ingestion_message(ref: IngestionRef) -> str:
    return json.dumps({"vector_store_id": ref.vector_store_id, "file_id": ref.file_id}, separators=(",", ":"))


def decode_ingestion_message(body: str) -> IngestionRef | None:
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    store, file = payload.get("vector_store_id"), payload.get("file_id")
    if not isinstance(store, str) or not isinstance(file, str) or not store or not file:
        return None
    return IngestionRef(vector_store_id=store, file_id=file)


class SqsIngestionQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue_ingestion(self, ref: IngestionRef) -> None:
        with aws_errors("sqs.send_message"):
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=encode_ingestion_message(ref))

    def receive_ingestions(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedIngestion]:
        """Long-poll; malformed messages are logged and deleted."""
        with aws_errors("sqs.receive_message"):
            response = self._client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=max(1, min(max_messages, MAX_RECEIVE_BATCH)),
                WaitTimeSeconds=max(0, min(wait_seconds, MAX_WAIT_SECONDS)),
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        received = []
        for message in response.get("Messages", []):
            ref = decode_ingestion_message(message.get("Body", ""))
            if ref is None:
                logger.warning("deleting malformed ingestion message %s", message.get("MessageId"))
                self.delete_ingestion_message(message["ReceiptHandle"])
                continue
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            received.append(ReceivedIngestion(ref, message["ReceiptHandle"], count))
        return received

    def delete_ingestion_message(self, receipt_handle: str) -> None:
        with aws_errors("sqs.delete_message"):
            self._client.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt_handle)

    def extend_visibility(self, receipt_handle: str, seconds: int) -> None:
        with aws_errors("sqs.change_message_visibility"):
            self._client.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
            )


class NoIngestionQueue:
    """Stands in when ``ASSISTANTS_INGESTION_QUEUE_URL`` is unset: nothing can be ingested, so every file
    added to a vector store fails at once with a server_error (``VectorStoreFileService.attach``)."""

    def enqueue_ingestion(self, ref: IngestionRef) -> None:
        raise StorageError("No ingestion queue is configured (ASSISTANTS_INGESTION_QUEUE_URL).")
