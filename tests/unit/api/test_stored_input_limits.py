"""Input that would be stored and then break reads for good is a 400 naming ``param`` at write time, and
nothing is stored (issue 10): deep nesting, lone surrogates, empty metadata keys, non-finite and
out-of-range numbers, oversized content parts; list pages stay under Lambda's 6 MB response."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistants_core.domain.models import Message
from assistants_core.schemas import common
from assistants_core.schemas.messages import (
    MAX_ATTACHMENTS,
    MAX_CONTENT_PARTS,
    MAX_IMAGE_URL_CHARS,
    MessageObject,
)
from tests.unit.api.conftest import ApiHarness

LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024


def nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def function_tool(parameters: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


def post_raw(api: ApiHarness, path: str, body: str) -> Any:
    headers = {**api.headers(), "Content-Type": "application/json"}
    return api.client.post(f"/v1{path}", content=body.encode(), headers=headers)


def assert_rejected(response: Any, param_start: str) -> None:
    assert response.status_code == 400, response.text[:500]
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] and error["param"].startswith(param_start), error


@pytest.fixture
def thread_id(api: ApiHarness) -> str:
    return str(api.post("/threads", {}).json()["id"])


def test_deeply_nested_function_parameters_are_rejected_and_not_stored(api: ApiHarness) -> None:
    before = api.table_item_count()
    response = api.post("/assistants", {"model": "m", "tools": [function_tool(nested_schema(300))]})
    assert_rejected(response, "tools[0].function.parameters")
    assert "nested" in response.json()["error"]["message"]
    assert api.table_item_count() == before
    assert api.get("/assistants").status_code == 200
    accepted = api.post("/assistants", {"model": "m", "tools": [function_tool(nested_schema(10))]})
    assert accepted.status_code == 200, accepted.text


def test_a_lone_surrogate_in_message_content_is_rejected(api: ApiHarness, thread_id: str) -> None:
    for body in (
        '{"role": "user", "content": "a\\udfff"}',
        '{"role": "user", "content": [{"type": "text", "text": "\\ud800"}]}',
        '{"role": "user", "content": "ok", "metadata": {"k\\udc00": "v"}}',
    ):
        assert_rejected(post_raw(api, f"/threads/{thread_id}/messages", body), "")
    listed = api.get(f"/threads/{thread_id}/messages")
    assert listed.status_code == 200 and listed.json()["data"] == []


def test_an_empty_metadata_key_is_rejected(api: ApiHarness) -> None:
    assert_rejected(api.post("/threads", {"metadata": {"": "x"}}), "metadata")
    assert_rejected(api.post("/assistants", {"model": "m", "metadata": {"": "x"}}), "metadata")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "1e-200"])
@pytest.mark.parametrize("field", ["temperature", "top_p"])
def test_non_finite_or_unstorable_sampling_numbers_are_rejected(
    api: ApiHarness, field: str, literal: str
) -> None:
    before = api.table_item_count()
    assert_rejected(post_raw(api, "/assistants", f'{{"model": "m", "{field}": {literal}}}'), field)
    assert api.table_item_count() == before


def assistant_with_number(literal: str) -> str:
    """An assistant create body whose function parameters hold the raw JSON number ``literal``."""
    parameters = '{"type": "string", "maxLength": ' + literal + "}"
    return '{"model": "m", "tools": [{"type": "function", "function": {"name": "f", "parameters": ' + (
        parameters + "}}]}"
    )


def test_integers_over_38_digits_are_rejected(api: ApiHarness, thread_id: str) -> None:
    huge = "9" * 39
    assert_rejected(post_raw(api, "/assistants", assistant_with_number(huge)), "tools[0].function.parameters")
    assistant = api.post("/assistants", {"model": "m"}).json()
    run_body = f'{{"assistant_id": "{assistant["id"]}", "max_completion_tokens": {huge}}}'
    assert_rejected(post_raw(api, f"/threads/{thread_id}/runs", run_body), "max_completion_tokens")
    assert post_raw(api, "/assistants", assistant_with_number("9" * 38)).status_code == 200


def test_every_content_part_is_capped(api: ApiHarness, thread_id: str) -> None:
    path = f"/threads/{thread_id}/messages"
    long_url = "https://example.com/" + "a" * MAX_IMAGE_URL_CHARS
    image = {"type": "image_url", "image_url": {"url": long_url}}
    assert_rejected(api.post(path, {"role": "user", "content": [image]}), "content[0].image_url.url")
    parts = [{"type": "text", "text": "x"}] * (MAX_CONTENT_PARTS + 1)
    assert_rejected(api.post(path, {"role": "user", "content": parts}), "content")
    attachments = [{"file_id": "file_1", "tools": [{"type": "file_search"}]}] * (MAX_ATTACHMENTS + 1)
    assert_rejected(
        api.post(path, {"role": "user", "content": "x", "attachments": attachments}), "attachments"
    )
    assert api.get(path).json()["data"] == []


@pytest.mark.parametrize(
    ("order", "after", "before"),
    [
        ("asc", "msg_zzzzzzzz", "msg_00000000"),
        ("desc", "msg_00000000", "msg_zzzzzzzz"),
        ("asc", "msg_5", "msg_5"),
        ("desc", "msg_5", "msg_5"),
    ],
)
def test_crossed_cursors_give_an_empty_page(
    api: ApiHarness, thread_id: str, order: str, after: str, before: str
) -> None:
    api.post(f"/threads/{thread_id}/messages", {"role": "user", "content": "hi"})
    params = {"order": order, "after": after, "before": before}
    response = api.get(f"/threads/{thread_id}/messages", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [] and not response.json()["has_more"]


@pytest.mark.parametrize("cursor", ["msg_\u00ff", "msg_~~~", "a" * 129, "msg_ x"])
def test_odd_cursors_are_a_400(api: ApiHarness, thread_id: str, cursor: str) -> None:
    for param in ("after", "before"):
        response = api.get(f"/threads/{thread_id}/messages", params={param: cursor})
        assert_rejected(response, param)


BUDGET = 30_000


@pytest.fixture
def byte_heavy_messages(api: ApiHarness, thread_id: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Five messages of which two fit a ``BUDGET``-byte page (each "\U0001f600" is 4 bytes of UTF-8 and 12
    in an escaped Lambda response)."""
    text = "\U0001f600" * 1_000
    created = [
        api.post(f"/threads/{thread_id}/messages", {"role": "user", "content": text}).json()["id"]
        for _ in range(5)
    ]
    monkeypatch.setattr(common, "LIST_RESPONSE_BUDGET_BYTES", BUDGET)
    return created


def page_of(api: ApiHarness, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
    page: dict[str, Any] = api.get(f"/threads/{thread_id}/messages", params=params).json()
    assert 1 <= len(page["data"]) <= 2
    assert len(json.dumps(json.dumps(page["data"]))) <= BUDGET + 1_000
    return page


def test_list_pages_stop_before_the_response_budget_and_lose_nothing(
    api: ApiHarness, thread_id: str, byte_heavy_messages: list[str]
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"order": "asc", "limit": 20}
    while True:
        page = page_of(api, thread_id, params)
        seen += [message["id"] for message in page["data"]]
        if not page["has_more"]:
            break
        params["after"] = page["last_id"]
    assert seen == byte_heavy_messages


def test_pages_read_backwards_from_before_keep_the_items_nearest_the_cursor(
    api: ApiHarness, thread_id: str, byte_heavy_messages: list[str]
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"order": "asc", "limit": 20, "before": "msg_" + "z" * 26}
    while True:
        page = page_of(api, thread_id, params)
        seen = [message["id"] for message in page["data"]] + seen
        if not page["has_more"]:
            break
        params["before"] = page["first_id"]
    assert seen == byte_heavy_messages


def test_the_largest_message_accepted_fits_a_lambda_response() -> None:
    """The worst case the caps allow: 256,000 astral characters of text, every part an image URL of escaped
    characters at its cap, every attachment and metadata entry at its cap."""
    text = {"type": "text", "text": {"value": "\U0001f600" * 256_000, "annotations": []}}
    url = {"type": "image_url", "image_url": {"url": "\x01" * MAX_IMAGE_URL_CHARS, "detail": "high"}}
    message = Message(
        id="msg_" + "0" * 26,
        thread_id="thread_" + "0" * 26,
        owner="tenant",
        created_at=0,
        role="user",
        content=[text] + [url] * (MAX_CONTENT_PARTS - 1),
        attachments=[{"file_id": "\x01" * 256, "tools": [{"type": "code_interpreter"}]}] * MAX_ATTACHMENTS,
        metadata={f"{index:02d}" + "\x01" * 62: "\U0001f600" * 512 for index in range(16)},
    )
    size = common.wire_size_bytes(MessageObject.from_domain(message))
    assert size < LAMBDA_RESPONSE_LIMIT_BYTES - 64 * 1024, size
