"""``/v1/models`` wire models (OpenAI's ``Model`` and ``ListModelsResponse``)."""

from __future__ import annotations

from typing import Literal

from assistants_core.schemas.common import WireModel
from assistants_core.services.models import ModelEntry

# Served models carry no creation time of their own; OpenAI's schema requires an integer.
UNKNOWN_CREATED_AT = 0
OWNED_BY = "system"


class ModelObject(WireModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> ModelObject:
        return cls(id=entry.id, created=UNKNOWN_CREATED_AT, owned_by=OWNED_BY)


class ModelList(WireModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]
