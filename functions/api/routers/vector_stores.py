"""``/v1/vector_stores`` (create, list, retrieve, modify, delete)."""

from __future__ import annotations

from fastapi import APIRouter

from api.file_deps import FileDeps
from api.params import Paging, Tenant
from assistants_core.schemas.common import ListResponse, list_response
from assistants_core.schemas.vector_stores import (
    CreateVectorStoreRequest,
    UpdateVectorStoreRequest,
    VectorStoreDeleted,
    VectorStoreObject,
    VectorStoreSearchRequest,
    VectorStoreSearchResults,
)

router = APIRouter(tags=["vector_stores"])


@router.post("/vector_stores")
def create_vector_store(body: CreateVectorStoreRequest, tenant: Tenant, deps: FileDeps) -> VectorStoreObject:
    return VectorStoreObject.from_domain(deps.stores.create(tenant, body), now=deps.clock.now())


@router.get("/vector_stores")
def list_vector_stores(tenant: Tenant, deps: FileDeps, query: Paging) -> ListResponse[VectorStoreObject]:
    page = deps.stores.list(
        tenant, limit=query.limit, order=query.order, after=query.after, before=query.before
    )
    now = deps.clock.now()
    return list_response(
        page, lambda store: VectorStoreObject.from_domain(store, now=now), lambda item: item.id
    )


@router.get("/vector_stores/{vector_store_id}")
def retrieve_vector_store(vector_store_id: str, tenant: Tenant, deps: FileDeps) -> VectorStoreObject:
    return VectorStoreObject.from_domain(deps.stores.retrieve(tenant, vector_store_id), now=deps.clock.now())


@router.post("/vector_stores/{vector_store_id}")
def modify_vector_store(
    vector_store_id: str, body: UpdateVectorStoreRequest, tenant: Tenant, deps: FileDeps
) -> VectorStoreObject:
    store = deps.stores.modify(tenant, vector_store_id, body)
    return VectorStoreObject.from_domain(store, now=deps.clock.now())


@router.post("/vector_stores/{vector_store_id}/search")
def search_vector_store(
    vector_store_id: str, body: VectorStoreSearchRequest, tenant: Tenant, deps: FileDeps
) -> VectorStoreSearchResults:
    return deps.search.search(tenant, vector_store_id, body)


@router.delete("/vector_stores/{vector_store_id}")
def delete_vector_store(vector_store_id: str, tenant: Tenant, deps: FileDeps) -> VectorStoreDeleted:
    deps.stores.delete(tenant, vector_store_id)
    return VectorStoreDeleted(id=vector_store_id)
