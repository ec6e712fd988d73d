"""Translation of botocore errors into the core's error hierarchy, one deliberate answer per code that
DynamoDB, S3 and SQS document for the operations we call (PutItem, UpdateItem, DeleteItem, GetItem, Query,
TransactWriteItems, BatchWriteItem):

- ``ConditionalCheckFailedException``, and a ``TransactionCanceledException`` whose reasons include
  ``ConditionalCheckFailed``: the adapter-internal ``ConditionFailedError`` / ``TransactionCancelledError``,
  which mean different things to different callers (not found, busy thread, lost race);
- ``TransactionConflictException`` (a single write racing another request's transaction; botocore does not
  retry it) and a cancellation whose reasons are only ``TransactionConflict``: ``WriteConflictError``, which
  ``DynamoTable`` retries a few times and then lets surface as a 409 ``conflict_error``;
  ``TransactionInProgressException`` likewise;
- throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``, ``RequestLimitExceeded``,
  cancellation reasons ``ThrottlingError`` / ``ProvisionedThroughputExceeded``), which botocore has already
  retried: ``RateLimitError`` (429);
- a ``ValidationException`` about an item's or key's size, and the cancellation reasons ``ValidationError``
  and ``ItemCollectionSizeLimitExceeded``: ``InvalidRequestError`` (400: the request holds too much data;
  retrying cannot help). Other ``ValidationException``s are our bug: 500;
- a backend that does not answer (connect/read timeouts, connection errors, after botocore's retries):
  ``ServiceUnavailableError`` (503);
- anything else (``InternalServerError`` after retries, ``ResourceNotFoundException``, ...): ``StorageError``
  (500), whose message carries no backend detail (the detail is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from assistants_core.domain.errors import (
    AssistantsError,
    ConflictError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
    StorageError,
)

logger = logging.getLogger(__name__)

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
CONFLICT_CODES = frozenset({"TransactionConflictException", "TransactionInProgressException"})
VALIDATION = "ValidationException"
ITEM_COLLECTION_TOO_LARGE = "ItemCollectionSizeLimitExceededException"
# DynamoDB's ValidationException messages for data over its size limits (item 400 KB, keys 2048/1024 B).
_SIZE_MESSAGES = ("size has exceeded", "must be under", "size limit")
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "SlowDown",
        "RequestThrottled",
    }
)
# Per-item cancellation reason codes.
REASON_OK = "None"
REASON_CONDITION_FAILED = "ConditionalCheckFailed"
REASON_TRANSACTION_CONFLICT = "TransactionConflict"
_THROTTLING_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
_TOO_LARGE_REASONS = frozenset({"ValidationError", "ItemCollectionSizeLimitExceeded"})
_UNANSWERED = (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError, ConnectionClosedError)
TOO_LARGE_MESSAGE = "The request holds more data than can be stored in one object."
BUSY_MESSAGE = "The storage backend is busy; please retry."
UNAVAILABLE_MESSAGE = "The storage backend did not answer in time; please retry."


class WriteConflictError(ConflictError):
    """A write lost to a concurrent transaction on the same item; nothing was written, so it may be retried
    as it is (its conditions are evaluated again)."""

    def __init__(self) -> None:
        super().__init__("A concurrent request changed this object; please retry.")


class ConditionFailedError(Exception):
    """A single-item write's ConditionExpression was false (adapter-internal)."""


class TransactionCancelledError(Exception):
    """A transaction's conditions failed; ``reasons[i]`` is the code of item ``i`` (``"None"`` = fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == REASON_CONDITION_FAILED

    @property
    def failed_indexes(self) -> list[int]:
        return [index for index in range(len(self.reasons)) if self.failed(index)]


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_reasons(error: ClientError) -> list[str]:
    """Per-item reason codes of a cancelled transaction (parsed from the message if the field is absent)."""
    reasons = error.response.get("CancellationReasons")
    if isinstance(reasons, list):
        return [str(reason.get("Code") or REASON_OK) for reason in reasons]
    message = str(error.response.get("Error", {}).get("Message", ""))
    if "[" in message and message.endswith("]"):
        return [code.strip() for code in message[message.rindex("[") + 1 : -1].split(",")]
    return []


def translate_client_error(error: ClientError, operation: str) -> AssistantsError:
    """The domain error for an unexpected ``ClientError`` (conditional failures are handled by callers)."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    if code in THROTTLING_CODES:
        logger.warning("%s throttled: %s", operation, code)
        return RateLimitError(BUSY_MESSAGE, code="rate_limit_exceeded")
    if code in CONFLICT_CODES:
        logger.warning("%s lost to a concurrent transaction: %s", operation, code)
        return WriteConflictError()
    if code == ITEM_COLLECTION_TOO_LARGE or (
        code == VALIDATION and any(phrase in message.lower() for phrase in _SIZE_MESSAGES)
    ):
        logger.warning("%s rejected as too large: %s %s", operation, code, message)
        return InvalidRequestError(TOO_LARGE_MESSAGE, code="request_too_large")
    logger.error("%s failed: %s %s", operation, code, message)
    return StorageError("The server had an error while processing your request.")


def _cancellation_error(error: ClientError) -> Exception:
    reasons = cancellation_reasons(error)
    if REASON_CONDITION_FAILED in reasons:
        return TransactionCancelledError(reasons)
    if any(reason in _THROTTLING_REASONS for reason in reasons):
        return RateLimitError(BUSY_MESSAGE, code="rate_limit_exceeded")
    if any(reason in _TOO_LARGE_REASONS for reason in reasons):
        logger.warning("transaction rejected as too large: %s", reasons)
        return InvalidRequestError(TOO_LARGE_MESSAGE, code="request_too_large")
    if REASON_TRANSACTION_CONFLICT in reasons:
        return WriteConflictError()
    return TransactionCancelledError(reasons)


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """Raise only ``ConditionFailedError``, ``TransactionCancelledError`` or domain errors."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code == CONDITIONAL_CHECK_FAILED:
            raise ConditionFailedError(operation) from None
        if code == TRANSACTION_CANCELED:
            raise _cancellation_error(error) from None
        raise translate_client_error(error, operation) from None
    except _UNANSWERED as error:
        logger.error("%s got no answer: %s", operation, error)
        raise ServiceUnavailableError(UNAVAILABLE_MESSAGE) from None
    except BotoCoreError as error:
        logger.error("%s failed: %s", operation, error)
        raise StorageError("The server had an error while processing your request.") from None
