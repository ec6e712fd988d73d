"""The one place boto3 clients are created (API, sweeper, DLQ consumer, worker and the local stack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from assistants_core.adapters.sqs_queue import MAX_WAIT_SECONDS
from assistants_core.settings import ApiSettings, AwsSettings

# botocore's standard retry mode pauses up to 2**(attempt-1) s (random, capped at 20 s) between attempts.
_MAX_RETRY_PAUSE_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class AwsClients:
    """Low-level boto3 clients (untyped: boto3 ships no stubs)."""

    dynamodb: Any
    s3: Any
    sqs: Any


def worst_case_call_seconds(settings: AwsSettings) -> float:
    """The longest one DynamoDB/S3 call can take against a backend that never answers: every attempt waits
    out the connect and read timeouts, with botocore's longest pause between attempts."""
    attempts = settings.aws_max_attempts
    per_attempt = settings.aws_connect_timeout_seconds + settings.aws_read_timeout_seconds
    pauses = sum(min(2.0 ** (attempt - 1), _MAX_RETRY_PAUSE_SECONDS) for attempt in range(1, attempts))
    return attempts * per_attempt + pauses


def _long_poll_seconds(settings: AwsSettings) -> float:
    """How long an SQS receive may wait on the server: the API never long-polls (it must answer inside API
    Gateway's 29 s); every other process may, up to SQS's 20 s."""
    return 0.0 if isinstance(settings, ApiSettings) else float(MAX_WAIT_SECONDS)


def _config(settings: AwsSettings, *, extra_read_seconds: float = 0.0, **extra: Any) -> Config:
    return Config(
        # ``total_max_attempts`` counts the first try (botocore's ``max_attempts`` counts only retries).
        retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        connect_timeout=settings.aws_connect_timeout_seconds,
        read_timeout=settings.aws_read_timeout_seconds + extra_read_seconds,
        **extra,
    )


def make_aws_clients(settings: AwsSettings) -> AwsClients:
    """Clients for the configured region; ``aws_endpoint_url`` points all three at a local moto server."""
    session = boto3.session.Session(region_name=settings.aws_region)
    endpoint = settings.aws_endpoint_url
    # A local endpoint (an IP and port) cannot serve virtual-hosted bucket names.
    s3_extra: dict[str, Any] = {"s3": {"addressing_style": "path"}} if endpoint else {}
    sqs_config = _config(settings, extra_read_seconds=_long_poll_seconds(settings))
    return AwsClients(
        dynamodb=session.client("dynamodb", endpoint_url=endpoint, config=_config(settings)),
        s3=session.client("s3", endpoint_url=endpoint, config=_config(settings, **s3_extra)),
        sqs=session.client("sqs", endpoint_url=endpoint, config=sqs_config),
    )
