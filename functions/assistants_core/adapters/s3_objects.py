"""File bodies in S3 (implements ``file_ports.ObjectStore``)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from assistants_core.adapters.errors import aws_errors
from assistants_core.domain.errors import NotFoundError

logger = logging.getLogger(__name__)

_DELETE_BATCH = 1000  # DeleteObjects accepts at most 1,000 keys
# S3 multipart upload: every part but the last must be at least 5 MiB.
MIN_MULTIPART_PART_BYTES = 5 * 1024 * 1024


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

    def assemble(self, key: str, sources: list[str], *, content_type: str) -> str:
        """Concatenate ``sources`` into ``key`` with one S3 multipart upload. Parts sent through the API are
        smaller than S3's 5 MiB part minimum, so sources are buffered into parts of at least that size; the
        multipart upload is aborted when anything fails (no incomplete upload keeps storage)."""
        with aws_errors("s3.create_multipart_upload"):
            multipart_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=key, ContentType=content_type
            )["UploadId"]
        try:
            digest = hashlib.md5(usedforsecurity=False)
            completed: list[dict[str, Any]] = []
            buffer = bytearray()
            for source in sources:
                data = self.get_object(source)
                digest.update(data)
                buffer += data
                if len(buffer) >= MIN_MULTIPART_PART_BYTES:
                    completed.append(self._upload_part(key, multipart_id, len(completed) + 1, bytes(buffer)))
                    buffer.clear()
            if buffer or not completed:
                completed.append(self._upload_part(key, multipart_id, len(completed) + 1, bytes(buffer)))
            with aws_errors("s3.complete_multipart_upload"):
                self._client.complete_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=multipart_id, MultipartUpload={"Parts": completed}
                )
        except BaseException:
            try:
                self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=multipart_id)
            except Exception:  # the bucket's AbortIncompleteMultipartUpload rule is the backstop
                logger.exception("aborting multipart upload of %s failed", key)
            raise
        return digest.hexdigest()

    def _upload_part(self, key: str, multipart_id: str, number: int, data: bytes) -> dict[str, Any]:
        with aws_errors("s3.upload_part"):
            response = self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=multipart_id, PartNumber=number, Body=data
            )
        return {"PartNumber": number, "ETag": response["ETag"]}
