"""OpenAI's published Assistants v2 schemas (``openai_spec/assistants_v2.json``, a pinned extract of
github.com/openai/openai-openapi, MIT) as strict JSON Schema validators, plus property coverage.

Strict means: every object schema that lists ``properties`` and says nothing about others gets
``additionalProperties: false`` (a field the spec does not define is a violation), and OpenAPI 3.0's
``nullable: true`` (also the ``allOf: [{$ref}, {nullable: true}]`` idiom) becomes ``anyOf [..., null]``
beside 3.1's ``type: [..., "null"]`` / ``anyOf`` nulls, which JSON Schema 2020-12 reads as they are.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SPEC_FILE = Path(__file__).parent / "openai_spec" / "assistants_v2.json"
NULL = {"type": "null"}


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strict(value) for key, value in node.items()}
    members = node.get("allOf")
    if isinstance(members, list) and {"nullable": True} in members:
        rest = [member for member in members if member != {"nullable": True}]
        node.pop("allOf")
        return {**node, "anyOf": [rest[0] if len(rest) == 1 else {"allOf": rest}, NULL]}
    if node.get("nullable") is True:
        node.pop("nullable")
        return {"anyOf": [node, NULL]}
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node


@dataclass(frozen=True)
class Violation:
    schema: str  # what the instance was checked against: a schema name or ``event <name>``
    where: str  # JSON path in the checked instance
    message: str
    origin: str  # the response or event it came from


class OpenAISpec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.source: dict[str, str] = document["source"]
        self.operations: dict[str, dict[str, str]] = document["operations"]
        self.raw_schemas: dict[str, Any] = document["schemas"]
        self._root = {"components": {"schemas": _strict(copy.deepcopy(self.raw_schemas))}}
        self._branches: dict[int, Draft202012Validator] = {}
        # event name -> (the union schema that defines it, e.g. RunStreamEvent; its strict member schema)
        self.events = dict(self._event_members(self._root["components"]["schemas"]))

    @staticmethod
    def _event_members(schemas: dict[str, Any]) -> Iterator[tuple[str, tuple[str, dict[str, Any]]]]:
        for ref in schemas["AssistantStreamEvent"]["oneOf"]:
            union_name = ref["$ref"].rsplit("/", 1)[-1]
            union = schemas[union_name]
            for member in union.get("oneOf", [union]):
                yield member["properties"]["event"]["enum"][0], (union_name, member)

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**self._root, **schema})

    @cache  # noqa: B019 - one spec per session
    def named(self, name: str) -> Draft202012Validator:
        return self.validator({"$ref": f"#/components/schemas/{name}"})

    def branch_validator(self, member: dict[str, Any]) -> Draft202012Validator:
        """A validator for one union member of the raw schemas (cached by identity: they never change)."""
        key = id(member)
        if key not in self._branches:
            self._branches[key] = self.validator(_strict(member))
        return self._branches[key]

    @cache  # noqa: B019 - one spec per session
    def event_validator(self, event: str) -> Draft202012Validator | None:
        return self.validator(self.events[event][1]) if event in self.events else None

    def check(
        self, validator: Draft202012Validator, instance: Any, schema: str, origin: str
    ) -> list[Violation]:
        return [
            Violation(schema, leaf.json_path, leaf.message, origin)
            for error in validator.iter_errors(instance)
            for leaf in _leaves(error)
        ]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The most specific errors under a failed ``oneOf``/``anyOf``: those of the branch that got furthest."""
    if not error.context:
        yield error
        return
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    best = max(branches.values(), key=lambda errors: min(len(e.absolute_path) for e in errors))
    if all(e.validator == "type" and not e.absolute_path for e in best):
        yield error  # no branch accepted even the instance's type: report the union itself
        return
    for sub in best:
        yield from _leaves(sub)


@cache
def load_spec() -> OpenAISpec:
    return OpenAISpec(json.loads(SPEC_FILE.read_text()))


# -- coverage -----------------------------------------------------------------------------------------------
def schema_properties(spec: OpenAISpec) -> dict[str, set[str]]:
    """Every property the extract defines: ``{schema name: {"a", "a.b", "a[].c", ...}}`` (nested inline
    objects by path; a ``$ref`` starts the properties of another schema)."""
    found: dict[str, set[str]] = {}
    for name, schema in spec.raw_schemas.items():
        found[name] = set(_property_paths(schema, ""))
    return {name: paths for name, paths in found.items() if paths}


def _property_paths(node: Any, prefix: str) -> Iterator[str]:
    if not isinstance(node, dict) or "$ref" in node:
        return
    for key, value in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path
        yield from _property_paths(value, f"{path}.")
    if "items" in node:
        yield from _property_paths(node["items"], prefix.removesuffix(".") + "[]." if prefix else "[].")
    for keyword in ("anyOf", "oneOf", "allOf"):
        for member in node.get(keyword, []):
            yield from _property_paths(member, prefix)


def covered_properties(spec: OpenAISpec, name: str, instance: Any) -> Iterator[tuple[str, str]]:
    """``(schema name, property path)`` for each property ``instance`` (valid against schema ``name``)
    carries, following ``$ref``s and the union branches the instance matches."""
    yield from _walk(spec, spec.raw_schemas[name], instance, name, "")


def _walk(spec: OpenAISpec, node: Any, instance: Any, owner: str, prefix: str) -> Iterator[tuple[str, str]]:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = ref.rsplit("/", 1)[-1]
        yield from _walk(spec, spec.raw_schemas[target], instance, target, "")
        return
    for keyword in ("anyOf", "oneOf", "allOf"):
        for member in node.get(keyword, []):
            if keyword == "allOf" or spec.branch_validator(member).is_valid(instance):
                yield from _walk(spec, member, instance, owner, prefix)
                if keyword == "oneOf":
                    break
    if isinstance(instance, dict):
        for key, value in node.get("properties", {}).items():
            if key in instance:
                yield owner, f"{prefix}{key}"
                yield from _walk(spec, value, instance[key], owner, f"{prefix}{key}.")
    if isinstance(instance, list) and "items" in node:
        item_prefix = prefix.removesuffix(".") + "[]." if prefix else "[]."
        for item in instance:
            yield from _walk(spec, node["items"], item, owner, item_prefix)
