"""``/v1/files`` (multipart upload, list, retrieve, delete, content)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from api.file_deps import FileDeps
from api.params import Tenant
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.files import MAX_DIRECT_UPLOAD_BYTES
from assistants_core.schemas.common import ListResponse, list_response
from assistants_core.schemas.files import FileDeleted, FileExpiresAfter, FileObject
from assistants_core.services.files import MAX_FILE_LIST_LIMIT

router = APIRouter(tags=["files"])


class FileListQuery(BaseModel):
    """ListFiles: ``purpose``, ``limit`` (default and maximum 10,000), ``order``, ``after``."""

    purpose: str | None = None
    limit: int = MAX_FILE_LIST_LIMIT
    order: str = "desc"
    after: str | None = None


@router.post("/files")
async def create_file(
    *,
    tenant: Tenant,
    deps: FileDeps,
    file: Annotated[UploadFile | None, File()] = None,
    purpose: Annotated[str | None, Form()] = None,
    expires_after_anchor: Annotated[str | None, Form(alias="expires_after[anchor]")] = None,
    expires_after_seconds: Annotated[int | None, Form(alias="expires_after[seconds]")] = None,
) -> FileObject:
    # Multipart fields are checked here: the JSON error mapper cannot name a missing form field.
    if file is None or purpose is None:
        raise InvalidRequestError(
            f"Missing required parameter: '{'file' if file is None else 'purpose'}'.",
            param="file" if file is None else "purpose",
        )
    # One byte past the limit is enough to tell that the file is too large.
    data = await file.read(MAX_DIRECT_UPLOAD_BYTES + 1)
    expires_after = None
    if expires_after_anchor is not None or expires_after_seconds is not None:
        expires_after = FileExpiresAfter.model_validate(
            {"anchor": expires_after_anchor, "seconds": expires_after_seconds}
        )
    created = deps.files.create(
        tenant,
        filename=file.filename or "",
        purpose=purpose,
        data=data,
        content_type=file.content_type or "application/octet-stream",
        expires_after=expires_after,
    )
    return FileObject.from_domain(created)


@router.get("/files")
def list_files(
    tenant: Tenant, deps: FileDeps, query: Annotated[FileListQuery, Query()]
) -> ListResponse[FileObject]:
    page = deps.files.list(
        tenant, purpose=query.purpose, limit=query.limit, order=query.order, after=query.after
    )
    return list_response(page, FileObject.from_domain, lambda item: item.id)


@router.get("/files/{file_id}")
def retrieve_file(file_id: str, tenant: Tenant, deps: FileDeps) -> FileObject:
    return FileObject.from_domain(deps.files.retrieve(tenant, file_id))


@router.delete("/files/{file_id}")
def delete_file(file_id: str, tenant: Tenant, deps: FileDeps) -> FileDeleted:
    deleted = deps.files.delete(tenant, file_id)
    return FileDeleted(id=deleted.id)


@router.get("/files/{file_id}/content", response_class=Response)
def retrieve_file_content(file_id: str, tenant: Tenant, deps: FileDeps) -> Response:
    file, data = deps.files.content(tenant, file_id)
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(file.filename)}"},
    )
