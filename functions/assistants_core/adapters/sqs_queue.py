"""The SQS run queue (implements ``ports.RunQueue`` and ``ports.RunQueueConsumer``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from assistants_core.adapters.errors import aws_errors
from assistants_core.ports import ReceivedRun, RunRef

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RECEIVE_BATCH = 10  # SQS limit per ReceiveMessage
MAX_DELETE_BATCH = 10  # SQS limit per DeleteMessageBatch
MAX_WAIT_SECONDS = 20  # SQS long-poll limit
MAX_DELAY_SECONDS = 900
MAX_VISIBILITY_SECONDS = 43_200


def encode_run_message(ref: RunRef) -> str:
    return json.dumps({"thread_id": ref.thread_id, "run_id": ref.run_id}, separators=(",", ":"))


def decode_message_fields(body: str, names: tuple[str, str]) -> tuple[str, str] | None:
    """The two non-empty string fields ``names`` of a JSON message body, or None when the body is not such a
    message (every queue of this project carries a pair of ids)."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    first, second = payload.get(names[0]), payload.get(names[1])
    if not isinstance(first, str) or not isinstance(second, str) or not first or not second:
        return None
    return first, second


def decode_run_message(body: str) -> RunRef | None:
    """The run a message refers to, or None when the body is not a valid run message."""
    fields = decode_message_fields(body, ("thread_id", "run_id"))
    return RunRef(thread_id=fields[0], run_id=fields[1]) if fields is not None else None


class SqsMessages(Generic[T]):
    """What every SQS queue adapter here shares: long-polled receives that delete malformed messages,
    deletes and visibility changes (``decode`` turns a body into the queue's reference, None: malformed)."""

    def __init__(self, client: Any, queue_url: str, decode: Callable[[str], T | None], kind: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._decode = decode
        self._kind = kind

    def approximate_depth(self) -> int:
        """Messages waiting to be received (``ApproximateNumberOfMessages``; in-flight ones excluded)."""
        with aws_errors("sqs.get_queue_attributes"):
            response = self._client.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        return int(response.get("Attributes", {}).get("ApproximateNumberOfMessages", "0"))

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[tuple[T, str, int]]:
        """Long-poll up to ``max_messages`` (capped at 10): (reference, receipt handle, receive count) each.
        Malformed messages are logged and deleted."""
        with aws_errors("sqs.receive_message"):
            response = self._client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=max(1, min(max_messages, MAX_RECEIVE_BATCH)),
                WaitTimeSeconds=max(0, min(wait_seconds, MAX_WAIT_SECONDS)),
                AttributeNames=["ApproximateReceiveCount"],
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        received: list[tuple[T, str, int]] = []
        for message in response.get("Messages", []):
            ref = self._decode(message.get("Body", ""))
            if ref is None:
                logger.warning("deleting malformed %s message %s", self._kind, message.get("MessageId"))
                self.delete(message["ReceiptHandle"])
                continue
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            received.append((ref, message["ReceiptHandle"], count))
        return received

    def delete(self, receipt_handle: str) -> None:
        with aws_errors("sqs.delete_message"):
            self._client.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt_handle)

    def extend_visibility(self, receipt_handle: str, seconds: int) -> None:
        with aws_errors("sqs.change_message_visibility"):
            self._client.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
            )


class SqsRunQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._messages = SqsMessages(client, queue_url, decode_run_message, "run")

    def enqueue_run(self, ref: RunRef, *, delay_seconds: int = 0) -> None:
        with aws_errors("sqs.send_message"):
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=encode_run_message(ref),
                DelaySeconds=max(0, min(delay_seconds, MAX_DELAY_SECONDS)),
            )

    def receive_runs(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedRun]:
        """Long-poll up to ``max_messages`` (capped at 10). Malformed messages are logged and deleted."""
        return [
            ReceivedRun(ref=ref, receipt_handle=handle, receive_count=count)
            for ref, handle, count in self._messages.receive(
                max_messages=max_messages, wait_seconds=wait_seconds
            )
        ]

    def delete_run_message(self, receipt_handle: str) -> None:
        self._messages.delete(receipt_handle)

    def delete_run_messages(self, receipt_handles: Sequence[str]) -> list[str]:
        """``DeleteMessageBatch`` of up to 10 messages; the handles SQS did not delete (its per-entry
        ``Failed`` list: a partial failure is not an exception)."""
        handles = list(receipt_handles)[:MAX_DELETE_BATCH]
        if not handles:
            return []
        entries = [{"Id": str(index), "ReceiptHandle": handle} for index, handle in enumerate(handles)]
        with aws_errors("sqs.delete_message_batch"):
            response = self._client.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        failed = response.get("Failed", [])
        for failure in failed:
            logger.warning("delete of a run message failed: %s", failure.get("Code"))
        return [handles[int(failure["Id"])] for failure in failed]

    def extend_visibility(self, receipt_handle: str, seconds: int) -> None:
        self._messages.extend_visibility(receipt_handle, seconds)

    def approximate_depth(self) -> int:
        return self._messages.approximate_depth()
