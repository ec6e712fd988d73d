"""Translation of botocore ``ClientError`` into the core's error hierarchy.

Conditional-check failures mean different things to different callers (not found, busy thread, lost
race), so they surface as the adapter-internal ``ConditionFailedError`` / ``TransactionCancelledError``, which
the repositories turn into domain errors. Throttling becomes ``RateLimitError``; anything else a
``StorageError`` whose message carries no backend detail (the detail is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from assistants_core.domain.errors import AssistantsError, ConflictError, RateLimitError, StorageError

logger = logging.getLogger(__name__)

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
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
    if code in THROTTLING_CODES:
        logger.warning("%s throttled: %s", operation, code)
        return RateLimitError("The storage backend is busy; please retry.", code="rate_limit_exceeded")
    logger.error("%s failed: %s %s", operation, code, error.response.get("Error", {}).get("Message"))
    return StorageError("The server had an error while processing your request.")


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
            reasons = cancellation_reasons(error)
            if any(reason in _THROTTLING_REASONS for reason in reasons):
                raise RateLimitError(
                    "The storage backend is busy; please retry.", code="rate_limit_exceeded"
                ) from None
            if REASON_CONDITION_FAILED not in reasons and REASON_TRANSACTION_CONFLICT in reasons:
                raise ConflictError("A concurrent request changed this object; please retry.") from None
            raise TransactionCancelledError(reasons) from None
        raise translate_client_error(error, operation) from None
    except BotoCoreError as error:
        logger.error("%s failed: %s", operation, error)
        raise StorageError("The server had an error while processing your request.") from None
