"""A store's indexed chunks in S3 (implements ``file_ports.ChunkIndex``): one object per (store, file) at a
key derived from both ids, ``vectors/<vs_id>/<file_id>``, so an ingestion that runs twice (a duplicate
delivery, a worker that died and was replaced) overwrites instead of adding a second copy."""

from __future__ import annotations

from typing import Any

from assistants_core.adapters.errors import aws_errors
from assistants_core.domain.chunks import IndexedFile, decode_indexed_file, encode_indexed_file

PREFIX = "vectors/"


def chunks_key(vector_store_id: str, file_id: str) -> str:
    return f"{PREFIX}{vector_store_id}/{file_id}"


class S3ChunkIndex:
    def __init__(self, client: Any, bucket_name: str) -> None:
        self._client = client
        self._bucket = bucket_name

    def write_file_chunks(self, vector_store_id: str, file_id: str, indexed: IndexedFile) -> int:
        """Put (or overwrite) the file's index object; returns its size in bytes."""
        blob = encode_indexed_file(indexed)
        with aws_errors("s3.put_object"):
            self._client.put_object(
                Bucket=self._bucket,
                Key=chunks_key(vector_store_id, file_id),
                Body=blob,
                ContentType="application/octet-stream",
            )
        return len(blob)

    def read_file_chunks(self, vector_store_id: str, file_id: str) -> IndexedFile | None:
        with aws_errors("s3.get_object"):
            try:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=chunks_key(vector_store_id, file_id)
                )
            except self._client.exceptions.NoSuchKey:
                return None
            blob: bytes = response["Body"].read()
        return decode_indexed_file(blob)

    def delete_file_chunks(self, vector_store_id: str, file_id: str) -> None:
        with aws_errors("s3.delete_object"):
            self._client.delete_object(Bucket=self._bucket, Key=chunks_key(vector_store_id, file_id))

    def delete_store_chunks(self, vector_store_id: str) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        with aws_errors("s3.delete_store_chunks"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{PREFIX}{vector_store_id}/"):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
