from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from assistants_core.adapters.errors import (
    ConditionFailedError,
    TransactionCancelledError,
    aws_errors,
    cancellation_reasons,
)
from assistants_core.domain.errors import ConflictError, RateLimitError, StorageError


def client_error(code: str, message: str = "detail from AWS", **extra: object) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, **extra}, "Operation")


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
)
def test_throttling_becomes_rate_limit(code: str) -> None:
    with pytest.raises(RateLimitError), aws_errors("op"):
        raise client_error(code)


def test_unknown_errors_become_storage_errors_without_backend_detail() -> None:
    with pytest.raises(StorageError) as raised, aws_errors("op"):
        raise client_error("ResourceNotFoundException", "Requested resource not found: table secret-name")
    assert "secret-name" not in raised.value.message
    with pytest.raises(StorageError), aws_errors("op"):
        raise EndpointConnectionError(endpoint_url="http://secret-host")


def test_condition_failures_are_left_to_the_caller() -> None:
    with pytest.raises(ConditionFailedError), aws_errors("op"):
        raise client_error("ConditionalCheckFailedException")


def test_transaction_cancellation_reports_each_item() -> None:
    reasons = [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
    ]
    with pytest.raises(TransactionCancelledError) as raised, aws_errors("op"):
        raise client_error("TransactionCanceledException", CancellationReasons=reasons)
    assert raised.value.failed_indexes == [1]
    assert not raised.value.failed(0)


def test_transaction_reasons_fall_back_to_the_message() -> None:
    error = client_error(
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed]",
    )
    assert cancellation_reasons(error) == ["None", "ConditionalCheckFailed"]


def test_transaction_conflicts_and_throttles() -> None:
    with pytest.raises(ConflictError), aws_errors("op"):
        raise client_error(
            "TransactionCanceledException", CancellationReasons=[{"Code": "TransactionConflict"}]
        )
    with pytest.raises(RateLimitError), aws_errors("op"):
        raise client_error("TransactionCanceledException", CancellationReasons=[{"Code": "ThrottlingError"}])
