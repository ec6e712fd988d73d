"""The one place boto3 clients are created (API, sweeper, DLQ consumer, worker and the local stack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from assistants_core.settings import AwsSettings

# Long polls wait up to 20 s, so the SQS read timeout must exceed that; DynamoDB and S3 answer fast.
_SQS_READ_TIMEOUT_SECONDS = 30
_DATA_READ_TIMEOUT_SECONDS = 10
_CONNECT_TIMEOUT_SECONDS = 3
_MAX_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class AwsClients:
    """Low-level boto3 clients (untyped: boto3 ships no stubs)."""

    dynamodb: Any
    s3: Any
    sqs: Any


def _config(read_timeout: int, **extra: Any) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": _MAX_ATTEMPTS},
        connect_timeout=_CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout,
        **extra,
    )


def make_aws_clients(settings: AwsSettings, *, max_pool_connections: int | None = None) -> AwsClients:
    """Clients for the configured region; ``aws_endpoint_url`` points all three at a local moto server.
    ``max_pool_connections``: botocore's connection pool per client (default 10), as large as the number of
    threads that call a client at once (else botocore discards connections: "Connection pool is full")."""
    session = boto3.session.Session(region_name=settings.aws_region)
    endpoint = settings.aws_endpoint_url
    # A local endpoint (an IP and port) cannot serve virtual-hosted bucket names.
    s3_extra: dict[str, Any] = {"s3": {"addressing_style": "path"}} if endpoint else {}
    pool: dict[str, Any] = {}
    if max_pool_connections is not None:
        pool["max_pool_connections"] = max_pool_connections
    s3_extra.update(pool)
    return AwsClients(
        dynamodb=session.client(
            "dynamodb", endpoint_url=endpoint, config=_config(_DATA_READ_TIMEOUT_SECONDS, **pool)
        ),
        s3=session.client(
            "s3", endpoint_url=endpoint, config=_config(_DATA_READ_TIMEOUT_SECONDS, **s3_extra)
        ),
        sqs=session.client("sqs", endpoint_url=endpoint, config=_config(_SQS_READ_TIMEOUT_SECONDS, **pool)),
    )
