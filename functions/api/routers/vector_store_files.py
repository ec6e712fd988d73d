"""``/v1/vector_stores/{vector_store_id}/files`` and ``.../file_batches``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.file_deps import FileDeps
from api.params import ListQuery, Tenant
from assistants_core.schemas.common import ListResponse, list_response
from assistants_core.schemas.vector_stores import (
    CreateFileBatchRequest,
    CreateVectorStoreFileRequest,
    FileBatchObject,
    FileContentPart,
    UpdateVectorStoreFileAttributesRequest,
    VectorStoreFileContent,
    VectorStoreFileDeleted,
    VectorStoreFileObject,
)

router = APIRouter(tags=["vector_stores"])


class StoreFileListQuery(ListQuery):
    filter: str | None = None


StoreFilePaging = Annotated[StoreFileListQuery, Query()]


def _file_page(
    deps: FileDeps, tenant: str, vector_store_id: str, query: StoreFileListQuery, batch_id: str | None = None
) -> ListResponse[VectorStoreFileObject]:
    page = deps.store_files.list(
        tenant,
        vector_store_id,
        limit=query.limit,
        order=query.order,
        after=query.after,
        before=query.before,
        status_filter=query.filter,
        batch_id=batch_id,
    )
    return list_response(page, VectorStoreFileObject.from_domain, lambda item: item.id)


@router.post("/vector_stores/{vector_store_id}/files")
def create_vector_store_file(
    vector_store_id: str, body: CreateVectorStoreFileRequest, tenant: Tenant, deps: FileDeps
) -> VectorStoreFileObject:
    return VectorStoreFileObject.from_domain(deps.store_files.create(tenant, vector_store_id, body))


@router.get("/vector_stores/{vector_store_id}/files")
def list_vector_store_files(
    vector_store_id: str, tenant: Tenant, deps: FileDeps, query: StoreFilePaging
) -> ListResponse[VectorStoreFileObject]:
    return _file_page(deps, tenant, vector_store_id, query)


@router.get("/vector_stores/{vector_store_id}/files/{file_id}")
def retrieve_vector_store_file(
    vector_store_id: str, file_id: str, tenant: Tenant, deps: FileDeps
) -> VectorStoreFileObject:
    return VectorStoreFileObject.from_domain(deps.store_files.retrieve(tenant, vector_store_id, file_id))


@router.post("/vector_stores/{vector_store_id}/files/{file_id}")
def update_vector_store_file(
    vector_store_id: str,
    file_id: str,
    body: UpdateVectorStoreFileAttributesRequest,
    tenant: Tenant,
    deps: FileDeps,
) -> VectorStoreFileObject:
    file = deps.store_files.update_attributes(tenant, vector_store_id, file_id, body.attributes)
    return VectorStoreFileObject.from_domain(file)


@router.get("/vector_stores/{vector_store_id}/files/{file_id}/content")
def retrieve_vector_store_file_content(
    vector_store_id: str, file_id: str, tenant: Tenant, deps: FileDeps
) -> VectorStoreFileContent:
    text = deps.store_files.content(tenant, vector_store_id, file_id)
    return VectorStoreFileContent(data=[FileContentPart(text=text)] if text is not None else [])


@router.delete("/vector_stores/{vector_store_id}/files/{file_id}")
def delete_vector_store_file(
    vector_store_id: str, file_id: str, tenant: Tenant, deps: FileDeps
) -> VectorStoreFileDeleted:
    deps.store_files.delete(tenant, vector_store_id, file_id)
    return VectorStoreFileDeleted(id=file_id)


@router.post("/vector_stores/{vector_store_id}/file_batches")
def create_file_batch(
    vector_store_id: str, body: CreateFileBatchRequest, tenant: Tenant, deps: FileDeps
) -> FileBatchObject:
    return FileBatchObject.from_domain(deps.store_files.create_batch(tenant, vector_store_id, body))


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}")
def retrieve_file_batch(
    vector_store_id: str, batch_id: str, tenant: Tenant, deps: FileDeps
) -> FileBatchObject:
    return FileBatchObject.from_domain(deps.store_files.retrieve_batch(tenant, vector_store_id, batch_id))


@router.post("/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")
def cancel_file_batch(vector_store_id: str, batch_id: str, tenant: Tenant, deps: FileDeps) -> FileBatchObject:
    return FileBatchObject.from_domain(deps.store_files.cancel_batch(tenant, vector_store_id, batch_id))


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}/files")
def list_file_batch_files(
    vector_store_id: str, batch_id: str, tenant: Tenant, deps: FileDeps, query: StoreFilePaging
) -> ListResponse[VectorStoreFileObject]:
    return _file_page(deps, tenant, vector_store_id, query, batch_id)
