"""Upload use cases (``/v1/uploads``): create, add part, complete (parts in the given order become one file),
cancel. Parts are stored as objects under ``uploads/<upload_id>/``; completing concatenates them into the
file's object with one S3 multipart upload and deletes them; cancelling deletes them too."""

from __future__ import annotations

from assistants_core.domain import files as rules
from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError, NotFoundError
from assistants_core.domain.files import StoredFile, Upload, UploadPart, UploadStateError, UploadStatus
from assistants_core.file_ports import ObjectStore, UploadRepository
from assistants_core.ports import Clock
from assistants_core.schemas.files import CompleteUploadRequest, CreateUploadRequest
from assistants_core.services.files import (
    expiry_of,
    file_body_key,
    validate_filename,
    validate_purpose,
)

PART_PREFIX = "uploads/"


def part_body_key(upload_id: str, part_id: str) -> str:
    return f"{PART_PREFIX}{upload_id}/{part_id}"


def require_upload_id(upload_id: str) -> str:
    if not ids.has_prefix(upload_id, rules.UPLOAD):
        raise NotFoundError("upload", upload_id, param="upload_id")
    return upload_id


class UploadService:
    def __init__(self, uploads: UploadRepository, objects: ObjectStore, clock: Clock) -> None:
        self._uploads = uploads
        self._objects = objects
        self._clock = clock

    def create(self, owner: str, request: CreateUploadRequest) -> Upload:
        validate_purpose(request.purpose, rules.UPLOAD_PURPOSES)
        validate_filename(request.filename, request.purpose)
        if not 1 <= request.bytes <= rules.MAX_FILE_BYTES:
            raise InvalidRequestError(
                f"Invalid 'bytes': expected a value between 1 and {rules.MAX_FILE_BYTES}, but got "
                f"{request.bytes} instead.",
                param="bytes",
            )
        now = self._clock.now()
        created_at = int(now)
        expiry_of(request.expires_after, created_at)  # validated now, applied to the file at completion
        upload = Upload(
            id=ids.new_id(rules.UPLOAD, now_ms=int(now * 1000)),
            owner=owner,
            created_at=created_at,
            filename=request.filename,
            bytes=request.bytes,
            purpose=request.purpose,
            mime_type=request.mime_type,
            expires_at=created_at + rules.UPLOAD_LIFETIME_SECONDS,
            file_expires_after_seconds=request.expires_after.seconds if request.expires_after else None,
        )
        self._uploads.put_upload(upload)
        return upload

    def _pending_upload(self, owner: str, upload_id: str, action: str) -> Upload:
        require_upload_id(upload_id)
        upload = self._uploads.get_upload(owner, upload_id)
        if upload.status is not UploadStatus.PENDING:
            raise UploadStateError(upload_id, upload.status.value, action)
        if self._clock.now() >= upload.expires_at:
            raise UploadStateError(upload_id, UploadStatus.EXPIRED.value, action)
        return upload

    def add_part(self, owner: str, upload_id: str, data: bytes) -> UploadPart:
        upload = self._pending_upload(owner, upload_id, "add a part to")
        if not data:
            raise InvalidRequestError("The part is empty.", param="data")
        if len(data) > rules.MAX_UPLOAD_PART_BYTES:
            raise InvalidRequestError(
                f"The part is too large: the limit is {rules.MAX_UPLOAD_PART_BYTES} bytes per part (one "
                "request through API Gateway and Lambda). Split the file into smaller parts "
                "(upload_file_chunked(part_size=...)).",
                param="data",
            )
        now = self._clock.now()
        part_id = ids.new_id(rules.UPLOAD_PART, now_ms=int(now * 1000))
        part = UploadPart(
            id=part_id,
            upload_id=upload.id,
            created_at=int(now),
            bytes=len(data),
            body_key=part_body_key(upload.id, part_id),
        )
        self._objects.put_object(part.body_key, data, content_type="application/octet-stream")
        try:
            self._uploads.add_part(owner, part)
        except BaseException:
            self._objects.delete_objects([part.body_key])
            raise
        return part

    def _ordered_parts(self, upload: Upload, part_ids: list[str]) -> list[UploadPart]:
        parts = {part.id: part for part in self._uploads.list_parts(upload.id)}
        if len(set(part_ids)) != len(part_ids):
            raise InvalidRequestError("Invalid 'part_ids': a part is listed twice.", param="part_ids")
        unknown = [part_id for part_id in part_ids if part_id not in parts]
        if unknown:
            raise InvalidRequestError(
                f"Invalid 'part_ids': part '{unknown[0]}' is not a part of upload {upload.id}.",
                param="part_ids",
            )
        ordered = [parts[part_id] for part_id in part_ids]
        total = sum(part.bytes for part in ordered)
        if total != upload.bytes:
            raise InvalidRequestError(
                f"The parts listed hold {total} bytes, but the upload was created with bytes={upload.bytes}. "
                "List every part, in order, in 'part_ids'.",
                param="part_ids",
            )
        return ordered

    def complete(
        self, owner: str, upload_id: str, request: CompleteUploadRequest
    ) -> tuple[Upload, StoredFile]:
        upload = self._pending_upload(owner, upload_id, "complete")
        ordered = self._ordered_parts(upload, request.part_ids)
        now = self._clock.now()
        file_id = rules.new_file_id(int(now * 1000))
        file = StoredFile(
            id=file_id,
            owner=owner,
            created_at=int(now),
            bytes=upload.bytes,
            filename=upload.filename,
            purpose=upload.purpose,
            body_key=file_body_key(file_id),
            expires_at=(
                int(now) + upload.file_expires_after_seconds if upload.file_expires_after_seconds else None
            ),
        )
        md5 = self._objects.assemble(
            file.body_key, [part.body_key for part in ordered], content_type=upload.mime_type
        )
        try:
            if request.md5 is not None and request.md5.lower() != md5:
                raise InvalidRequestError(
                    f"Invalid 'md5': the parts' MD5 is {md5}, not {request.md5}.", param="md5"
                )
            completed = self._uploads.complete_upload(upload, file)
        except BaseException:
            self._objects.delete_objects([file.body_key])
            raise
        self._forget_parts(upload.id)
        return completed, file

    def cancel(self, owner: str, upload_id: str) -> Upload:
        require_upload_id(upload_id)
        cancelled = self._uploads.cancel_upload(owner, upload_id)
        self._forget_parts(upload_id)
        return cancelled

    def _forget_parts(self, upload_id: str) -> None:
        """Delete the parts' objects and items (the upload is no longer pending: no part can be added)."""
        parts = self._uploads.list_parts(upload_id)
        self._objects.delete_objects([part.body_key for part in parts])
        self._uploads.delete_parts(upload_id, [part.id for part in parts])
