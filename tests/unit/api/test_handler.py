"""The Lambda entry point: an API Gateway HTTP API event through Mangum and the real app (moto)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from api import deps, handler
from tests.unit.api.conftest import KEY_A, ApiHarness


@dataclass
class FakeLambdaContext:
    function_name: str = "assistants-api"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:assistants-api"
    aws_request_id: str = "req-123"


def http_api_event(method: str, path: str, body: dict[str, object] | None, key: str) -> dict[str, object]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {key}", "content-type": "application/json"},
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "1.2.3.4",
                "userAgent": "t",
            },
            "requestId": "gw-request-1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_lambda_handler_serves_the_app(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Assistants")
    monkeypatch.setattr(deps, "default_dependencies", lambda: api.dependencies)
    handler._get_asgi_handler.cache_clear()
    try:
        created = handler.handler(
            http_api_event("POST", "/v1/threads", {"metadata": {"a": "b"}}, KEY_A), FakeLambdaContext()
        )
        assert created["statusCode"] == 200
        assert json.loads(created["body"])["metadata"] == {"a": "b"}
        refused = handler.handler(
            http_api_event("GET", "/v1/assistants", None, "sk-nope"), FakeLambdaContext()
        )
        assert refused["statusCode"] == 401
        assert json.loads(refused["body"])["error"]["code"] == "invalid_api_key"
    finally:
        handler._get_asgi_handler.cache_clear()
