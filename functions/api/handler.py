"""The API Lambda entry point: Mangum around the FastAPI app, with Powertools logging, metrics and tracing.

Importing this module stays cheap: the X-Ray tracer (aws_xray_sdk alone costs ~0.3 s), the app, the boto3
clients and the services are built on the first invocation of a cold start and reused by every later one."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "assistants-api"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Assistants", service=SERVICE)

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@lru_cache(maxsize=1)
def _get_asgi_handler() -> LambdaHandler:
    """Mangum around the app, traced with X-Ray, built on the first invocation."""
    from aws_lambda_powertools import Tracer
    from mangum import Mangum

    from api.app import create_app
    from api.deps import default_dependencies

    tracer = Tracer(service=SERVICE)
    asgi = Mangum(create_app(default_dependencies()), lifespan="off")

    def serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = asgi(event, context)
        return response

    traced: LambdaHandler = tracer.capture_lambda_handler(serve, capture_response=False)
    return traced


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    response = _get_asgi_handler()(event, context)
    status = int(response.get("statusCode", 500))
    if status >= 500:
        metrics.add_metric(name="ApiServerErrors", unit=MetricUnit.Count, value=1)
    elif status >= 400:
        metrics.add_metric(name="ApiClientErrors", unit=MetricUnit.Count, value=1)
    return response
