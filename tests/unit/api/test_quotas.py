"""Issue 10, security 2 + 3 through the HTTP app: per-tenant request rate, active runs and open streams
answer OpenAI's 429 (``type: requests``, ``code: rate_limit_exceeded``) with ``Retry-After``, per tenant, and
a refused request writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assistants_core.domain.errors import RateLimitError, StorageError
from tests.unit.api.conftest import KEY_B, ApiHarness, running_api


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with running_api(
        monkeypatch, tenant_requests_per_minute=1000, tenant_max_active_runs=2, tenant_max_open_streams=1
    ) as harness:
        yield harness


def assert_429(response: Any) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    return error


def test_requests_per_minute_per_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(monkeypatch, tenant_requests_per_minute=4) as api:
        statuses = [api.get("/assistants").status_code for _ in range(3)]
        assistant = api.post("/assistants", {"model": "m"})
        assert statuses == [200, 200, 200] and assistant.status_code == 200
        # Most often the 5th request of the minute; a window that rolled over mid-test allows a few more.
        for _ in range(5):
            refused = api.post("/assistants", {"model": "m", "name": "refused"})
            if refused.status_code == 429:
                break
        error = assert_429(refused)
        assert "requests per min" in error["message"]
        assert api.get("/assistants", key=KEY_B).status_code == 200  # another tenant is not affected
        items = api.clients.dynamodb.scan(TableName=api.resources.table_name)["Items"]
        assert not any(item.get("name", {}).get("S") == "refused" for item in items)  # nothing written


def test_active_runs_per_tenant(limited: ApiHarness) -> None:
    api = limited
    assistant = api.post("/assistants", {"model": "m"}).json()
    threads = [api.post("/threads", {}).json()["id"] for _ in range(4)]
    for thread in threads[:2]:
        assert api.post(f"/threads/{thread}/runs", {"assistant_id": assistant["id"]}).status_code == 200
    error = assert_429(api.post(f"/threads/{threads[2]}/runs", {"assistant_id": assistant["id"]}))
    assert "active runs" in error["message"]
    assert_429(api.post("/threads/runs", {"assistant_id": assistant["id"]}))
    # Nothing written: no run, and the thread is free for messages.
    assert api.get(f"/threads/{threads[2]}/runs").json()["data"] == []
    assert api.post(f"/threads/{threads[2]}/messages", {"role": "user", "content": "hi"}).status_code == 200
    # Another tenant has its own quota.
    other = api.post("/assistants", {"model": "m"}, key=KEY_B).json()
    other_thread = api.post("/threads", {}, key=KEY_B).json()["id"]
    created = api.post(f"/threads/{other_thread}/runs", {"assistant_id": other["id"]}, key=KEY_B)
    assert created.status_code == 200


def test_open_streams_per_tenant_refused_before_anything_is_written(limited: ApiHarness) -> None:
    api = limited
    holder = api.dependencies.quotas.open_stream("tenant-a")  # a stream of this tenant is open elsewhere
    assistant = api.post("/assistants", {"model": "m"}).json()
    thread = api.post("/threads", {}).json()["id"]
    error = assert_429(api.post(f"/threads/{thread}/runs", {"assistant_id": assistant["id"], "stream": True}))
    assert "open streams" in error["message"]
    assert api.get(f"/threads/{thread}/runs").json()["data"] == []  # no run was created
    run = api.post(f"/threads/{thread}/runs", {"assistant_id": assistant["id"]}).json()
    assert_429(api.get(f"/threads/{thread}/runs/{run['id']}/events"))
    api.dependencies.quotas.close_stream("tenant-a", holder)
    # With the slot back, a stream of the run opens (and gives its slot back when it ends: the cancel below
    # closes it, and the next stream opens too).
    assert api.post(f"/threads/{thread}/runs/{run['id']}/cancel").status_code == 200
    for _ in range(2):
        streamed = api.get(f"/threads/{thread}/runs/{run['id']}/events")
        assert streamed.status_code == 200 and "thread.run.cancelled" in streamed.text


def test_a_failing_quota_store_answers_in_openais_envelope(
    limited: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter write is throttled (DynamoDB's ThrottlingException becomes RateLimitError in the
    adapter) or fails outright: the request is answered 429 / 500 in the envelope, never a crash."""
    store = limited.dependencies.quotas._store

    def throttled(*args: Any, **kwargs: Any) -> bool:
        raise RateLimitError("The storage backend is busy; please retry.", code="rate_limit_exceeded")

    monkeypatch.setattr(store, "count_request", throttled)
    busy = limited.get("/assistants")
    assert busy.status_code == 429 and busy.json()["error"]["type"] == "rate_limit_exceeded"

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise StorageError("backend details that must not leak")

    monkeypatch.setattr(store, "count_request", broken)
    failed = limited.get("/assistants")
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "server_error"
    assert "backend details" not in failed.text
