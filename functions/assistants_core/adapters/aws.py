"""The one place boto3 clients are created (API, sweeper, DLQ consumer, worker and the local stack)."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from assistants_core.adapters.sqs_queue import MAX_WAIT_SECONDS
from assistants_core.settings import ApiSettings, AwsSettings

_STATIC_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
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


def web_identity_variables(role_arn: str, token: str, token_dir: Path) -> dict[str, str]:
    """Write the OIDC ``token`` to a private file in ``token_dir`` and return the variables that make boto3's
    default chain assume ``role_arn`` with it (AssumeRoleWithWebIdentity, refreshed before expiry)."""
    token_dir.mkdir(parents=True, exist_ok=True)
    token_file = token_dir / "web-identity-token"
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token)
    return {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": role_arn,
        "AWS_ROLE_SESSION_NAME": f"assistants-worker-{socket.gethostname()}"[:64],
    }


def use_web_identity(settings: AwsSettings) -> bool:
    """Point this process's boto3 credential chain at ``settings.aws_role_arn`` with the Modal identity token,
    unless static keys are set (the documented key-based fallback) or either value is missing. Returns
    whether the web identity is used."""
    if not settings.aws_role_arn or not settings.web_identity_token:
        return False
    if all(os.environ.get(name) for name in _STATIC_KEY_VARIABLES):
        return False
    token_dir = Path(tempfile.gettempdir()) / "assistants-aws"
    os.environ.update(web_identity_variables(settings.aws_role_arn, settings.web_identity_token, token_dir))
    return True


def make_aws_clients(settings: AwsSettings, *, max_pool_connections: int | None = None) -> AwsClients:
    """Clients for the configured region; ``aws_endpoint_url`` points all three at a local moto server.
    ``max_pool_connections``: botocore's connection pool per client (default 10), as large as the number of
    threads that call a client at once (else botocore discards connections: "Connection pool is full")."""
    use_web_identity(settings)
    session = boto3.session.Session(region_name=settings.aws_region)
    endpoint = settings.aws_endpoint_url
    # A local endpoint (an IP and port) cannot serve virtual-hosted bucket names.
    s3_extra: dict[str, Any] = {"s3": {"addressing_style": "path"}} if endpoint else {}
    pool: dict[str, Any] = {}
    if max_pool_connections is not None:
        pool["max_pool_connections"] = max_pool_connections
    sqs_config = _config(settings, extra_read_seconds=_long_poll_seconds(settings), **pool)
    return AwsClients(
        dynamodb=session.client("dynamodb", endpoint_url=endpoint, config=_config(settings, **pool)),
        s3=session.client("s3", endpoint_url=endpoint, config=_config(settings, **s3_extra, **pool)),
        sqs=session.client("sqs", endpoint_url=endpoint, config=sqs_config),
    )
