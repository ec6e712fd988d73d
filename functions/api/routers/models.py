"""``/v1/models``: the models this deployment serves and the aliases that run on them."""

from __future__ import annotations

from fastapi import APIRouter

from api.params import Services, Tenant
from assistants_core.schemas.models import ModelList, ModelObject

router = APIRouter(tags=["models"])


@router.get("/models")
def list_models(tenant: Tenant, deps: Services) -> ModelList:
    return ModelList(data=[ModelObject.from_entry(entry) for entry in deps.models.entries()])


@router.get("/models/{model:path}")
def retrieve_model(model: str, tenant: Tenant, deps: Services) -> ModelObject:
    return ModelObject.from_entry(deps.models.retrieve(model))
