"""Every error class of the HTTP API answers OpenAI's envelope, and nothing is written on a rejection."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import KEY_B, ApiHarness


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def make_thread(api: ApiHarness, **body: Any) -> str:
    response = api.post("/threads", body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def make_assistant(api: ApiHarness) -> str:
    response = api.post("/assistants", {"model": "test-model", "instructions": "Be brief."})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_malformed_json_is_400_without_param_and_writes_nothing(api: ApiHarness) -> None:
    before = api.table_item_count()
    headers = {**api.headers(), "content-type": "application/json"}
    error = error_of(api.client.post("/v1/assistants", content=b'{"model": ', headers=headers), 400)
    assert error["type"] == "invalid_request_error"
    assert "could not parse the JSON body" in error["message"]
    assert api.table_item_count() == before


def test_missing_body_and_missing_required_field_name_the_param(api: ApiHarness) -> None:
    error = error_of(api.post("/assistants", {}), 400)
    assert error["param"] == "model"
    assert error["message"] == "Missing required parameter: 'model'."
    thread_id = make_thread(api)
    error = error_of(api.post(f"/threads/{thread_id}/messages", {"role": "user"}), 400)
    assert error["param"] == "content"


def test_wrong_types_name_the_nested_param(api: ApiHarness) -> None:
    thread_id = make_thread(api)
    bad_part = {"role": "user", "content": [{"type": "text", "text": 5}]}
    error = error_of(api.post(f"/threads/{thread_id}/messages", bad_part), 400)
    assert error["param"] == "content[0].text"
    error = error_of(api.post("/assistants", {"model": "m", "temperature": "hot"}), 400)
    assert error["param"] == "temperature"
    error = error_of(api.post("/threads", {"messages": [{"role": "robot", "content": "x"}]}), 400)
    assert error["param"] == "messages[0].role"
    assert api.table_item_count() == 1  # only the thread made above


def test_unknown_argument_is_rejected_like_openai(api: ApiHarness) -> None:
    error = error_of(api.post("/assistants", {"model": "m", "colour": "blue"}), 400)
    assert error["message"] == "Unrecognized request argument supplied: colour"
    assert error["param"] == "colour"
    assert api.table_item_count() == 0


def test_oversize_content_is_rejected_and_nothing_is_written(api: ApiHarness) -> None:
    thread_id = make_thread(api)
    before = api.table_item_count()
    error = error_of(
        api.post(f"/threads/{thread_id}/messages", {"role": "user", "content": "x" * 2_001}), 400
    )
    assert error["param"] == "content"
    error = error_of(api.post("/threads", {"messages": [{"role": "user", "content": "y" * 2_001}]}), 400)
    assert error["param"] == "messages[0].content"
    assert api.table_item_count() == before


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(17)}, "metadata"),
        ({"k" * 65: "v"}, "metadata"),
        ({"key": "v" * 513}, "metadata.key"),
        ({"key": 5}, "metadata.key"),
    ],
)
def test_bad_metadata_is_rejected_everywhere(api: ApiHarness, metadata: dict[str, Any], param: str) -> None:
    thread_id = make_thread(api)
    before = api.table_item_count()
    for path, body in [
        ("/assistants", {"model": "m", "metadata": metadata}),
        ("/threads", {"metadata": metadata}),
        (f"/threads/{thread_id}", {"metadata": metadata}),
        (f"/threads/{thread_id}/messages", {"role": "user", "content": "hi", "metadata": metadata}),
    ]:
        error = error_of(api.post(path, body), 400)
        assert error["param"] == param, path
    assert api.table_item_count() == before
    assert api.get(f"/threads/{thread_id}").json()["metadata"] == {}


def test_sixteen_metadata_keys_at_the_limits_are_accepted(api: ApiHarness) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    response = api.post("/threads", {"metadata": metadata})
    assert response.status_code == 200
    assert response.json()["metadata"] == metadata


@pytest.mark.parametrize(
    ("query", "param"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("order=up", "order")],
)
def test_bad_list_parameters(api: ApiHarness, query: str, param: str) -> None:
    error = error_of(api.get(f"/assistants?{query}"), 400)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_unknown_ids_are_404_not_found_error(api: ApiHarness) -> None:
    thread_id = make_thread(api)
    for path in [
        "/assistants/asst_doesnotexist",
        "/assistants/thread_wrongprefix",
        "/threads/thread_doesnotexist",
        f"/threads/{thread_id}/messages/msg_doesnotexist",
        f"/threads/{thread_id}/runs/run_doesnotexist",
        f"/threads/{thread_id}/runs/run_doesnotexist/steps",
        "/threads/thread_doesnotexist/messages",
    ]:
        error = error_of(api.get(path), 404)
        assert error["type"] == "not_found_error", path


def test_another_tenants_objects_are_404_and_untouched(api: ApiHarness) -> None:
    assistant_id = make_assistant(api)
    thread_id = make_thread(api, metadata={"owner": "a"})
    message_id = api.post(f"/threads/{thread_id}/messages", {"role": "user", "content": "hi"}).json()["id"]
    for path in [
        f"/assistants/{assistant_id}",
        f"/threads/{thread_id}",
        f"/threads/{thread_id}/messages/{message_id}",
        f"/threads/{thread_id}/messages",
    ]:
        error_of(api.get(path, key=KEY_B), 404)
    error_of(api.post(f"/threads/{thread_id}", {"metadata": {"owner": "b"}}, key=KEY_B), 404)
    error_of(api.delete(f"/threads/{thread_id}", key=KEY_B), 404)
    error_of(api.post(f"/threads/{thread_id}/messages", {"role": "user", "content": "x"}, key=KEY_B), 404)
    error_of(api.post(f"/threads/{thread_id}/runs", {"assistant_id": assistant_id}, key=KEY_B), 404)
    assert api.get("/assistants", key=KEY_B).json()["data"] == []
    assert api.get(f"/threads/{thread_id}").json()["metadata"] == {"owner": "a"}
    assert len(api.get(f"/threads/{thread_id}/messages").json()["data"]) == 1


def test_missing_or_invalid_key_is_401(api: ApiHarness) -> None:
    error = error_of(api.client.get("/v1/assistants"), 401)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    error = error_of(api.client.get("/v1/assistants", headers={"Authorization": "Bearer sk-wrong"}), 401)
    assert error["code"] == "invalid_api_key"
    assert "sk-wrong" not in error["message"]
    error_of(api.client.get("/v1/assistants", headers={"Authorization": "Basic abc"}), 401)
    # Authentication comes before body parsing: a bad body without a key is still a 401.
    error_of(
        api.client.post("/v1/assistants", content=b"{", headers={"content-type": "application/json"}), 401
    )


def test_busy_thread_rejects_messages_and_runs_with_400(api: ApiHarness) -> None:
    assistant_id = make_assistant(api)
    thread_id = make_thread(api)
    assert api.post(f"/threads/{thread_id}/runs", {"assistant_id": assistant_id}).status_code == 200
    before = api.table_item_count()
    error = error_of(api.post(f"/threads/{thread_id}/messages", {"role": "user", "content": "more"}), 400)
    assert error["type"] == "invalid_request_error"
    assert "while a run" in error["message"]
    error_of(api.post(f"/threads/{thread_id}/runs", {"assistant_id": assistant_id}), 400)
    assert api.table_item_count() == before
    assert api.queue_depth() == 1


def test_cancel_of_a_terminal_run_is_400_and_changes_nothing(api: ApiHarness) -> None:
    assistant_id = make_assistant(api)
    thread_id = make_thread(api)
    run_id = api.post(f"/threads/{thread_id}/runs", {"assistant_id": assistant_id}).json()["id"]
    cancelled = api.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"] is not None
    error = error_of(api.post(f"/threads/{thread_id}/runs/{run_id}/cancel"), 400)
    assert error["message"] == "Cannot cancel run with status 'cancelled'."
    assert error["type"] == "invalid_request_error"
    assert api.get(f"/threads/{thread_id}/runs/{run_id}").json() == cancelled.json()
    # The cancel released the thread: new messages are accepted again.
    assert api.post(f"/threads/{thread_id}/messages", {"role": "user", "content": "again"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_prompt_tokens": 255}, "max_prompt_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"stream": True, "temperature": 3}, "temperature"),  # a stream fails as JSON, before it starts
        ({"truncation_strategy": {"type": "sometimes"}}, "truncation_strategy.type"),
        (
            {"additional_messages": [{"role": "user", "content": "z" * 2_001}]},
            "additional_messages[0].content",
        ),
    ],
)
def test_run_parameters_are_checked_before_anything_is_written(
    api: ApiHarness, body: dict[str, Any], param: str
) -> None:
    assistant_id = make_assistant(api)
    thread_id = make_thread(api)
    before = api.table_item_count()
    error = error_of(api.post(f"/threads/{thread_id}/runs", {"assistant_id": assistant_id, **body}), 400)
    assert error["param"] == param
    assert api.table_item_count() == before
    assert api.queue_depth() == 0


def test_run_on_unknown_assistant_is_404_naming_assistant_id(api: ApiHarness) -> None:
    thread_id = make_thread(api)
    error = error_of(api.post(f"/threads/{thread_id}/runs", {"assistant_id": "asst_nope"}), 404)
    assert error["type"] == "not_found_error"
    assert api.queue_depth() == 0


def test_unknown_route_is_404_in_openai_shape(api: ApiHarness) -> None:
    error = error_of(api.get("/batches"), 404)
    assert error["message"] == "Invalid URL (GET /v1/batches)"


def test_uncaught_exception_is_500_server_error_without_internals(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret table arn:aws:dynamodb:xyz")

    monkeypatch.setattr(api.dependencies.assistants, "retrieve", explode)
    error = error_of(api.get("/assistants/asst_x"), 500)
    assert error["type"] == "server_error"
    assert "arn:aws" not in error["message"]


def test_cors_preflight_needs_no_key_and_exposes_headers(api: ApiHarness) -> None:
    response = api.client.options(
        "/v1/threads",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, openai-beta",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in response.headers["access-control-allow-methods"]
    actual = api.client.get("/v1/assistants", headers={**api.headers(), "Origin": "https://app.example.com"})
    assert actual.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in actual.headers["access-control-expose-headers"]
    refused = api.client.options(
        "/v1/threads", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in refused.headers
