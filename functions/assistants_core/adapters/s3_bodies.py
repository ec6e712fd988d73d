"""Large message bodies in S3 (implements ``ports.BodyStore``)."""

from __future__ import annotations

from typing import Any

from assistants_core.adapters.errors import aws_errors

_DELETE_BATCH = 1000  # DeleteObjects accepts at most 1,000 keys


class S3BodyStore:
    def __init__(self, client: Any, bucket_name: str) -> None:
        self._client = client
        self._bucket = bucket_name

    def put_body(self, key: str, body: bytes) -> None:
        with aws_errors("s3.put_object"):
            self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")

    def get_body(self, key: str) -> bytes:
        with aws_errors("s3.get_object"):
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            data: bytes = response["Body"].read()
        return data

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object whose key starts with ``prefix`` (current versions only)."""
        paginator = self._client.get_paginator("list_objects_v2")
        with aws_errors("s3.delete_prefix"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                for start in range(0, len(keys), _DELETE_BATCH):
                    self._client.delete_objects(
                        Bucket=self._bucket,
                        Delete={"Objects": keys[start : start + _DELETE_BATCH], "Quiet": True},
                    )
