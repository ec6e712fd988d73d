"""``/v1/files`` through the official openai SDK against the local stack: round trip, list filters and
pagination, tenant isolation, bad input (nothing written), and no S3 object left behind by a failed write."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from botocore.exceptions import ClientError
from openai import OpenAI

from assistants_core.domain.files import MAX_DIRECT_UPLOAD_BYTES
from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(local_stack: LocalStackHandle) -> OpenAI:
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


@pytest.fixture
def other_client(local_stack: LocalStackHandle) -> OpenAI:
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.other_api_key, max_retries=0)


def stored_file_keys(local_stack: LocalStackHandle) -> set[str]:
    s3 = local_stack.clients.s3
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=local_stack.resources.bucket_name, Prefix="files/"
    )
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def test_file_round_trip(client: OpenAI, local_stack: LocalStackHandle) -> None:
    body = b"# Notes\n\nThe launch code is blue-42.\n"
    created = client.files.create(file=("notes.md", io.BytesIO(body)), purpose="assistants")
    assert created.id.startswith("file-")
    assert (created.object, created.bytes, created.filename, created.purpose, created.status) == (
        "file",
        len(body),
        "notes.md",
        "assistants",
        "processed",
    )
    assert client.files.retrieve(created.id) == created
    # Optional, not nullable in OpenAI's spec: absent rather than null when the file does not expire.
    raw = client.files.with_raw_response.retrieve(created.id).http_response.json()
    assert "expires_at" not in raw and "status_details" not in raw
    assert client.files.content(created.id).read() == body
    assert f"files/{created.id}" in stored_file_keys(local_stack)
    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "file", True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)
    assert f"files/{created.id}" not in stored_file_keys(local_stack)


def test_list_filters_by_purpose_and_pages(other_client: OpenAI) -> None:
    # The other tenant's files only: this test owns that tenant's whole listing.
    made = [
        other_client.files.create(file=(f"doc{index}.txt", f"text {index}".encode()), purpose="assistants")
        for index in range(3)
    ]
    batch = other_client.files.create(file=("requests.jsonl", b'{"a": 1}\n'), purpose="batch")
    assistants_ids = [file.id for file in other_client.files.list(purpose="assistants")]
    assert assistants_ids[:3] == [file.id for file in reversed(made)]
    assert batch.id not in assistants_ids
    assert [file.id for file in other_client.files.list(purpose="batch")] == [batch.id]
    first = other_client.files.list(limit=2, order="asc")
    assert [file.id for file in first.data] == [made[0].id, made[1].id]
    assert first.has_more is True
    second = other_client.files.list(limit=2, order="asc", after=first.data[-1].id)
    assert [file.id for file in second.data] == [made[2].id, batch.id]
    # The SDK's auto-pagination walks every page.
    walked = [file.id for file in other_client.files.list(limit=1, order="asc")]
    assert walked == [file.id for file in made] + [batch.id]
    for file in [*made, batch]:
        other_client.files.delete(file.id)


def test_expires_after(client: OpenAI) -> None:
    created = client.files.create(
        file=("short.txt", b"short-lived"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.expires_at == created.created_at + 3600
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.create(
            file=("short.txt", b"x"),
            purpose="assistants",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    assert raised.value.param == "expires_after.seconds"  # type: ignore[attr-defined]
    client.files.delete(created.id)


def test_other_tenant_gets_404(client: OpenAI, other_client: OpenAI) -> None:
    mine = client.files.create(file=("secret.txt", b"mine"), purpose="assistants")
    for call in (other_client.files.retrieve, other_client.files.content, other_client.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(mine.id)
    assert mine.id not in [file.id for file in other_client.files.list()]
    assert client.files.content(mine.id).read() == b"mine"
    client.files.delete(mine.id)


@pytest.mark.parametrize(
    ("filename", "content", "purpose", "message"),
    [
        ("tool.exe", b"MZ", "assistants", "Invalid file format"),
        ("empty.txt", b"", "assistants", "File is empty"),
        ("big.txt", b"x" * (MAX_DIRECT_UPLOAD_BYTES + 1), "assistants", "/v1/uploads"),
        ("notes.txt", b"text", "batch", "Invalid file format"),
        ("notes.txt", b"text", "wizardry", "purpose"),
    ],
)
def test_bad_uploads_are_400_and_store_nothing(
    *,
    client: OpenAI,
    local_stack: LocalStackHandle,
    filename: str,
    content: bytes,
    purpose: str,
    message: str,
) -> None:
    before = stored_file_keys(local_stack)
    listed = {file.id for file in client.files.list()}
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.create(file=(filename, content), purpose=purpose)  # type: ignore[arg-type]
    assert message in raised.value.message
    error: Any = raised.value.body
    assert error["type"] == "invalid_request_error"
    assert stored_file_keys(local_stack) == before
    assert {file.id for file in client.files.list()} == listed


def test_missing_file_part_is_400(local_stack: LocalStackHandle) -> None:
    import httpx

    response = httpx.post(
        f"{local_stack.base_url}/files",
        headers={"authorization": f"Bearer {local_stack.api_key}"},
        data={"purpose": "assistants"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "message": "Missing required parameter: 'file'.",
        "type": "invalid_request_error",
        "param": "file",
        "code": None,
    }


@pytest.fixture
def failing_file_put(local_stack: LocalStackHandle) -> Iterator[None]:
    """The API's DynamoDB PutItem of a file fails (as a broken table would) after S3 took the body."""
    events = local_stack.clients.dynamodb.meta.events

    def fail(params: dict[str, Any], **_: Any) -> None:
        if params.get("Item", {}).get("PK", {}).get("S", "").startswith("FILE#"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "PutItem")

    events.register("provide-client-params.dynamodb.PutItem", fail)
    try:
        yield
    finally:
        events.unregister("provide-client-params.dynamodb.PutItem", fail)


def test_failed_metadata_write_leaves_no_s3_object(
    client: OpenAI, local_stack: LocalStackHandle, failing_file_put: None
) -> None:
    before = stored_file_keys(local_stack)
    with pytest.raises(openai.InternalServerError):
        client.files.create(file=("a.txt", b"some text"), purpose="assistants")
    assert stored_file_keys(local_stack) == before
