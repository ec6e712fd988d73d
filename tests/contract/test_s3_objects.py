"""S3ObjectStore against moto: assembling parts smaller than S3's 5 MiB part minimum, and a failure in the
middle of the multipart upload aborts it (no incomplete upload keeps storage)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.s3_objects import MIN_MULTIPART_PART_BYTES, S3ObjectStore
from assistants_core.domain.errors import NotFoundError, StorageError
from infra.aws_resources import ResourceNames


@pytest.fixture
def store(aws_clients: AwsClients, aws_resources: ResourceNames) -> S3ObjectStore:
    return S3ObjectStore(aws_clients.s3, aws_resources.bucket_name)


def put_sources(store: S3ObjectStore, chunks: list[bytes]) -> list[str]:
    keys = [f"uploads/u/{index}" for index in range(len(chunks))]
    for key, chunk in zip(keys, chunks, strict=True):
        store.put_object(key, chunk, content_type="application/octet-stream")
    return keys


def test_assemble_concatenates_small_sources_into_valid_multipart_parts(store: S3ObjectStore) -> None:
    chunks = [bytes([index]) * (2 * 1024 * 1024 + index) for index in range(4)]  # 4 x ~2 MiB
    md5 = store.assemble("files/f", put_sources(store, chunks), content_type="text/plain")
    whole = b"".join(chunks)
    assert store.get_object("files/f") == whole
    assert md5 == hashlib.md5(whole).hexdigest()
    assert len(whole) > MIN_MULTIPART_PART_BYTES


def test_failure_mid_assembly_aborts_the_multipart_upload(
    store: S3ObjectStore, aws_clients: AwsClients, aws_resources: ResourceNames
) -> None:
    chunks = [b"a" * (3 * 1024 * 1024), b"b" * (3 * 1024 * 1024), b"c" * 10]
    sources = put_sources(store, chunks)
    calls = {"parts": 0}

    def fail_second_part(params: dict[str, Any], **_: Any) -> None:
        calls["parts"] += 1
        if calls["parts"] == 2:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "UploadPart")

    aws_clients.s3.meta.events.register("provide-client-params.s3.UploadPart", fail_second_part)
    with pytest.raises(StorageError):
        store.assemble("files/f", sources, content_type="text/plain")
    uploads = aws_clients.s3.list_multipart_uploads(Bucket=aws_resources.bucket_name)
    assert uploads.get("Uploads", []) == []
    with pytest.raises(NotFoundError):
        store.get_object("files/f")


def test_missing_object_is_not_found(store: S3ObjectStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_object("files/none")
