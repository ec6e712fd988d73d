"""File bodies in S3 (implements ``file_ports.ObjectStore``)."""

from __future__ import annotations

from typing import Any

from assistants_core.adapters.errors import aws_errors
from assistants_core.domain.errors import NotFoundError

_DELETE_BATCH = 1000  # DeleteObjects accepts at most 1,000 keys


class S3ObjectStore:
    def __init__(self, client: Any, bucket_name: str) -> None:
        self._client = client
        self._bucket = bucket_name

    def put_object(self, key: str, body: bytes, *, content_type: str) -> None:
        with aws_errors("s3.put_object"):
            self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def get_object(self, key: str) -> bytes:
        with aws_errors("s3.get_object"):
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=key)
            except self._client.exceptions.NoSuchKey:
                raise NotFoundError("file content", key) from None
            data: bytes = response["Body"].read()
        return data

    def delete_objects(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            with aws_errors("s3.delete_objects"):
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
