"""``/v1/uploads`` (create, add part, complete, cancel): files larger than one request, sent in parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from api.file_deps import FileDeps
from api.params import Tenant
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.files import MAX_UPLOAD_PART_BYTES
from assistants_core.schemas.files import (
    CompleteUploadRequest,
    CreateUploadRequest,
    UploadObject,
    UploadPartObject,
)

router = APIRouter(tags=["uploads"])


@router.post("/uploads")
def create_upload(body: CreateUploadRequest, tenant: Tenant, deps: FileDeps) -> UploadObject:
    return UploadObject.from_domain(deps.uploads.create(tenant, body), now=deps.clock.now())


@router.post("/uploads/{upload_id}/parts")
async def add_upload_part(
    upload_id: str, tenant: Tenant, deps: FileDeps, data: Annotated[UploadFile | None, File()] = None
) -> UploadPartObject:
    if data is None:  # a multipart field: the JSON error mapper cannot name it
        raise InvalidRequestError("Missing required parameter: 'data'.", param="data")
    # One byte past the limit is enough to tell that the part is too large.
    content = await data.read(MAX_UPLOAD_PART_BYTES + 1)
    return UploadPartObject.from_domain(deps.uploads.add_part(tenant, upload_id, content))


@router.post("/uploads/{upload_id}/complete")
def complete_upload(
    upload_id: str, body: CompleteUploadRequest, tenant: Tenant, deps: FileDeps
) -> UploadObject:
    upload, file = deps.uploads.complete(tenant, upload_id, body)
    return UploadObject.from_domain(upload, file=file, now=deps.clock.now())


@router.post("/uploads/{upload_id}/cancel")
def cancel_upload(upload_id: str, tenant: Tenant, deps: FileDeps) -> UploadObject:
    return UploadObject.from_domain(deps.uploads.cancel(tenant, upload_id), now=deps.clock.now())
