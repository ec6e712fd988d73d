"""``/v1/uploads`` through the official openai SDK: a file over the one-request limit in parts (the SDK's
``upload_file_chunked``), parts added out of order and completed in the listed order, bad part lists,
cancel, and no part object or incomplete S3 multipart upload left behind."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from assistants_core.domain.files import MAX_DIRECT_UPLOAD_BYTES, MAX_UPLOAD_PART_BYTES
from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e

PART = 1024 * 1024


@pytest.fixture
def client(local_stack: LocalStackHandle) -> OpenAI:
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


def keys_under(local_stack: LocalStackHandle, prefix: str) -> set[str]:
    pages = local_stack.clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=local_stack.resources.bucket_name, Prefix=prefix
    )
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def open_multipart_uploads(local_stack: LocalStackHandle) -> list[str]:
    response = local_stack.clients.s3.list_multipart_uploads(Bucket=local_stack.resources.bucket_name)
    return [upload["Key"] for upload in response.get("Uploads", [])]


def test_upload_file_chunked_over_the_single_request_limit(
    client: OpenAI, local_stack: LocalStackHandle, tmp_path: Path
) -> None:
    data = os.urandom(7 * 1024 * 1024 + 123)  # > 6 MB: one request could not carry it
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    upload = client.uploads.upload_file_chunked(
        file=path,
        mime_type="text/plain",
        purpose="assistants",
        part_size=2 * PART,
        md5=hashlib.md5(data).hexdigest(),
    )
    assert upload.status == "completed"
    assert upload.object == "upload"
    assert upload.file is not None
    assert (upload.file.bytes, upload.file.filename, upload.file.purpose) == (
        len(data),
        "big.txt",
        "assistants",
    )
    assert client.files.retrieve(upload.file.id).bytes == len(data)
    assert client.files.content(upload.file.id).read() == data
    assert keys_under(local_stack, f"uploads/{upload.id}/") == set()
    assert open_multipart_uploads(local_stack) == []
    client.files.delete(upload.file.id)


def test_parts_added_out_of_order_complete_in_listed_order(
    client: OpenAI, local_stack: LocalStackHandle
) -> None:
    chunks = [b"first|", b"second|", b"third"]
    upload = client.uploads.create(
        filename="story.md", purpose="assistants", bytes=sum(map(len, chunks)), mime_type="text/markdown"
    )
    assert (upload.status, upload.bytes, upload.expires_at - upload.created_at) == ("pending", 18, 3600)
    part_ids = {}
    for index in (2, 0, 1):
        part = client.uploads.parts.create(upload.id, data=chunks[index])
        assert (part.object, part.upload_id) == ("upload.part", upload.id)
        part_ids[index] = part.id
    assert len(keys_under(local_stack, f"uploads/{upload.id}/")) == 3
    completed = client.uploads.complete(upload.id, part_ids=[part_ids[0], part_ids[1], part_ids[2]])
    assert completed.status == "completed"
    assert completed.file is not None
    assert client.files.content(completed.file.id).read() == b"first|second|third"
    assert keys_under(local_stack, f"uploads/{upload.id}/") == set()
    with pytest.raises(openai.BadRequestError, match="status 'completed'"):
        client.uploads.parts.create(upload.id, data=b"late")
    with pytest.raises(openai.BadRequestError, match="status 'completed'"):
        client.uploads.complete(upload.id, part_ids=[part_ids[0]])
    client.files.delete(completed.file.id)


def test_bad_part_lists_are_400_and_leave_the_upload_pending(
    client: OpenAI, local_stack: LocalStackHandle
) -> None:
    upload = client.uploads.create(filename="a.txt", purpose="assistants", bytes=6, mime_type="text/plain")
    first = client.uploads.parts.create(upload.id, data=b"abc")
    second = client.uploads.parts.create(upload.id, data=b"def")
    before = keys_under(local_stack, "files/")
    for part_ids, message in (
        ([first.id], "hold 3 bytes"),  # a part missing
        ([first.id, first.id], "listed twice"),
        ([first.id, "part_unknown"], "is not a part of"),
    ):
        with pytest.raises(openai.BadRequestError, match=message):
            client.uploads.complete(upload.id, part_ids=part_ids)
    with pytest.raises(openai.BadRequestError, match="md5"):
        client.uploads.complete(
            upload.id, part_ids=[first.id, second.id], md5=hashlib.md5(b"defabc").hexdigest()
        )
    assert keys_under(local_stack, "files/") == before
    assert open_multipart_uploads(local_stack) == []
    # The order of part_ids is the file's order, whatever order the parts arrived in.
    completed = client.uploads.complete(
        upload.id, part_ids=[second.id, first.id], md5=hashlib.md5(b"defabc").hexdigest()
    )
    assert completed.file is not None
    assert client.files.content(completed.file.id).read() == b"defabc"
    client.files.delete(completed.file.id)


def test_cancel_deletes_parts_and_refuses_later_changes(
    client: OpenAI, local_stack: LocalStackHandle
) -> None:
    upload = client.uploads.create(filename="a.txt", purpose="assistants", bytes=10, mime_type="text/plain")
    part = client.uploads.parts.create(upload.id, data=b"12345")
    assert keys_under(local_stack, f"uploads/{upload.id}/") == {f"uploads/{upload.id}/{part.id}"}
    cancelled = client.uploads.cancel(upload.id)
    assert (cancelled.id, cancelled.status) == (upload.id, "cancelled")
    assert keys_under(local_stack, f"uploads/{upload.id}/") == set()
    with pytest.raises(openai.BadRequestError, match="status 'cancelled'"):
        client.uploads.parts.create(upload.id, data=b"67890")
    with pytest.raises(openai.BadRequestError, match="status 'cancelled'"):
        client.uploads.complete(upload.id, part_ids=[part.id])
    with pytest.raises(openai.BadRequestError, match="status 'cancelled'"):
        client.uploads.cancel(upload.id)
    assert keys_under(local_stack, f"uploads/{upload.id}/") == set()


def test_bad_uploads_and_parts(client: OpenAI, local_stack: LocalStackHandle) -> None:
    with pytest.raises(openai.BadRequestError, match="Invalid file format"):
        client.uploads.create(filename="a.exe", purpose="assistants", bytes=10, mime_type="text/plain")
    with pytest.raises(openai.BadRequestError, match="bytes"):
        client.uploads.create(filename="a.txt", purpose="assistants", bytes=0, mime_type="text/plain")
    upload = client.uploads.create(
        filename="a.txt", purpose="assistants", bytes=MAX_DIRECT_UPLOAD_BYTES * 2, mime_type="text/plain"
    )
    with pytest.raises(openai.BadRequestError, match="part is too large"):
        client.uploads.parts.create(upload.id, data=b"x" * (MAX_UPLOAD_PART_BYTES + 1))
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.uploads.parts.create(upload.id, data=b"")
    assert keys_under(local_stack, f"uploads/{upload.id}/") == set()
    client.uploads.cancel(upload.id)


def test_other_tenant_gets_404(client: OpenAI, local_stack: LocalStackHandle) -> None:
    other = OpenAI(base_url=local_stack.base_url, api_key=local_stack.other_api_key, max_retries=0)
    upload = client.uploads.create(filename="a.txt", purpose="assistants", bytes=3, mime_type="text/plain")
    part = client.uploads.parts.create(upload.id, data=b"abc")
    with pytest.raises(openai.NotFoundError):
        other.uploads.parts.create(upload.id, data=b"abc")
    with pytest.raises(openai.NotFoundError):
        other.uploads.complete(upload.id, part_ids=[part.id])
    with pytest.raises(openai.NotFoundError):
        other.uploads.cancel(upload.id)
    with pytest.raises(openai.NotFoundError):
        client.uploads.cancel("upload_doesnotexist")
    client.uploads.cancel(upload.id)
