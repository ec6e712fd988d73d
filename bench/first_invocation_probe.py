"""Run in a fresh interpreter by ``bench/cold_start.py``: imports the API Lambda handler, then invokes it
twice with a synthetic API Gateway HTTP API (v2) event, and prints the timings as one JSON line. Only the
standard library is imported before the timed import, so nothing is preloaded. Needs the API's
``ASSISTANTS_*`` environment (the local stack's moto) and ``--key``."""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace


def http_api_event(
    method: str, path: str, key: str, *, query: str = "", body: dict[str, object] | None = None
) -> dict[str, object]:
    """A synthetic API Gateway HTTP API (v2) event (also used by the handler's unit test)."""
    http = {
        "method": method,
        "path": path,
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "bench",
    }
    headers = {"authorization": f"Bearer {key}"}
    if body is not None:
        headers["content-type"] = "application/json"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {"http": http, "requestId": "bench", "routeKey": "$default", "stage": "$default"},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def lambda_context() -> SimpleNamespace:
    """The attributes of a Lambda context object that the handler reads."""
    return SimpleNamespace(
        function_name="assistants-api",
        memory_limit_in_mb=1024,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:assistants-api",
        aws_request_id="bench",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    key = parser.parse_args().key
    context = lambda_context()
    event = http_api_event("GET", "/v1/assistants", key, query="limit=1")
    started = time.perf_counter()
    from api import handler

    imported = time.perf_counter()
    first = handler.handler(event, context)
    invoked = time.perf_counter()
    second = handler.handler(event, context)
    again = time.perf_counter()
    timings = {
        "import": imported - started,
        "first": invoked - imported,
        "second": again - invoked,
        "status": [first["statusCode"], second["statusCode"]],
    }
    print("PROBE " + json.dumps(timings), flush=True)


if __name__ == "__main__":
    main()
