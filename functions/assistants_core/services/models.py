"""The models a deployment serves (``GET /v1/models``) and the names a request may use: served names and
configured aliases (OpenAI names such as ``gpt-4o`` mapped onto a served model)."""

from __future__ import annotations

from dataclasses import dataclass

from assistants_core.domain.errors import InvalidRequestError, NotFoundError

MODEL_NOT_FOUND = "model_not_found"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One name ``/v1/models`` lists: a served model, or an alias of one (``serves`` names it)."""

    id: str
    serves: str


def parse_names(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (order kept, duplicates dropped)."""
    names: list[str] = []
    for name in (value or "").split(","):
        if name.strip() and name.strip() not in names:
            names.append(name.strip())
    return names


def parse_aliases(value: str) -> dict[str, str]:
    """``"gpt-4o=Qwen3, gpt-4.1-mini=Qwen3"`` -> ``{"gpt-4o": "Qwen3", ...}``."""
    aliases: dict[str, str] = {}
    for pair in parse_names(value):
        alias, separator, target = pair.partition("=")
        if not separator or not alias.strip() or not target.strip():
            raise ValueError(f"model alias {pair!r} is not '<requested name>=<served model>'")
        aliases[alias.strip()] = target.strip()
    return aliases


class ModelCatalog:
    """``served=None`` accepts any model name and lists none (tests, a worker-less API)."""

    def __init__(self, served: list[str] | None, aliases: dict[str, str] | None = None) -> None:
        aliases = aliases or {}
        if served is not None:
            unknown = {alias: target for alias, target in aliases.items() if target not in served}
            if unknown:
                raise ValueError(f"model aliases name models that are not served: {unknown}")
        self._served = served
        self._aliases = {alias: target for alias, target in aliases.items() if alias not in (served or [])}

    @classmethod
    def from_settings(cls, served_models: str | None, model_aliases: str) -> ModelCatalog:
        served = parse_names(served_models) if served_models is not None else None
        return cls(served, parse_aliases(model_aliases))

    def entries(self) -> list[ModelEntry]:
        served = [ModelEntry(id=name, serves=name) for name in self._served or []]
        return served + [ModelEntry(id=alias, serves=target) for alias, target in self._aliases.items()]

    def retrieve(self, name: str) -> ModelEntry:
        for entry in self.entries():
            if entry.id == name:
                return entry
        raise NotFoundError("model", name, param="model")

    def require_served(self, name: str, *, param: str = "model") -> str:
        """The served model ``name`` runs on; a 400 naming the served models when it is neither served nor
        an alias."""
        if self._served is None or name in self._served:
            return name
        if name in self._aliases:
            return self._aliases[name]
        accepted = ", ".join(self._served) or "(none)"
        aliases = f"; aliases: {', '.join(self._aliases)}" if self._aliases else ""
        raise InvalidRequestError(
            f"The model '{name}' is not served by this deployment. Served models: {accepted}{aliases}.",
            param=param,
            code=MODEL_NOT_FOUND,
        )
