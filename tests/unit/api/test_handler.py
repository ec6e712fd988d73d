"""The Lambda entry point: an API Gateway HTTP API event through Mangum and the real app (moto)."""

from __future__ import annotations

import json

import pytest

from api import deps, handler
from bench.first_invocation_probe import http_api_event, lambda_context
from tests.unit.api.conftest import KEY_A, ApiHarness


def test_lambda_handler_serves_the_app(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Assistants")
    monkeypatch.setattr(deps, "default_dependencies", lambda: api.dependencies)
    handler._get_asgi_handler.cache_clear()
    try:
        created = handler.handler(
            http_api_event("POST", "/v1/threads", KEY_A, body={"metadata": {"a": "b"}}), lambda_context()
        )
        assert created["statusCode"] == 200
        assert json.loads(created["body"])["metadata"] == {"a": "b"}
        refused = handler.handler(http_api_event("GET", "/v1/assistants", "sk-nope"), lambda_context())
        assert refused["statusCode"] == 401
        assert json.loads(refused["body"])["error"]["code"] == "invalid_api_key"
    finally:
        handler._get_asgi_handler.cache_clear()
