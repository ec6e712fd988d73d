"""Wire models of ``/v1/files`` and ``/v1/uploads`` (OpenAI's OpenAIFile, DeleteFileResponse, Upload,
UploadPart, CreateUploadRequest, CompleteUploadRequest)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from assistants_core.domain.files import StoredFile, Upload, UploadPart
from assistants_core.schemas.common import RequestModel, WireModel


class FileExpiresAfter(RequestModel):
    anchor: Literal["created_at"]
    seconds: int


class FileObject(WireModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        """``expires_at`` and ``status_details`` are optional but not nullable in OpenAI's spec: leave them
        out rather than send null. (No return annotation: pydantic then keeps the model's schema.)"""
        data: dict[str, Any] = handler(self)
        for name in ("expires_at", "status_details"):
            if data.get(name) is None:
                data.pop(name, None)
        return data

    @classmethod
    def from_domain(cls, file: StoredFile) -> FileObject:
        return cls(
            id=file.id,
            bytes=file.bytes,
            created_at=file.created_at,
            expires_at=file.expires_at,
            filename=file.filename,
            purpose=file.purpose,
            status="processed",
        )


class FileDeleted(WireModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


class CreateUploadRequest(RequestModel):
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    expires_after: FileExpiresAfter | None = None


class CompleteUploadRequest(RequestModel):
    part_ids: list[str] = Field(min_length=1)
    md5: str | None = None


class UploadObject(WireModel):
    id: str
    object: Literal["upload"] = "upload"
    created_at: int
    filename: str
    bytes: int
    purpose: str
    status: Literal["pending", "completed", "cancelled", "expired"]
    expires_at: int
    file: FileObject | None = None

    @classmethod
    def from_domain(cls, upload: Upload, *, file: StoredFile | None = None, now: float) -> UploadObject:
        status = upload.status.value
        if status == "pending" and now >= upload.expires_at:
            status = "expired"
        return cls(
            id=upload.id,
            created_at=upload.created_at,
            filename=upload.filename,
            bytes=upload.bytes,
            purpose=upload.purpose,
            status=status,  # type: ignore[arg-type]  # one of the UploadStatus values
            expires_at=upload.expires_at,
            file=FileObject.from_domain(file) if file is not None else None,
        )


class UploadPartObject(WireModel):
    id: str
    object: Literal["upload.part"] = "upload.part"
    created_at: int
    upload_id: str

    @classmethod
    def from_domain(cls, part: UploadPart) -> UploadPartObject:
        return cls(id=part.id, created_at=part.created_at, upload_id=part.upload_id)
