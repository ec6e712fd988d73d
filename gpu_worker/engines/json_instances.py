"""A deterministic value that satisfies a JSON schema (the scripted engine's structured output).

Covers what response formats and function parameters use: ``const``, ``enum``, ``anyOf``/``oneOf`` (first
option), ``allOf`` (merged objects), objects (every property, required or not), arrays (``minItems`` copies
of the item), strings (``text``, padded to ``minLength``), numbers within their bounds, booleans, null.
"""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]


def _schema_type(schema: JSONDict) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, list):
        non_null = [kind for kind in declared if kind != "null"]
        return str(non_null[0]) if non_null else "null"
    if declared is not None:
        return str(declared)
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _number(schema: JSONDict) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None:
        return float(low) + (1 if "exclusiveMinimum" in schema else 0)
    if high is not None:
        return float(high) - (1 if "exclusiveMaximum" in schema else 0)
    return 1.0


def example_value(schema: JSONDict | bool, text: str = "text") -> Any:
    """A value valid against ``schema``; ``text`` fills free strings."""
    if not isinstance(schema, dict):
        return {}
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf"):
        if schema.get(combinator):
            return example_value(schema[combinator][0], text)
    if schema.get("allOf"):
        merged: JSONDict = {}
        for part in schema["allOf"]:
            value = example_value(part, text)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    return _typed_value(schema, text)


def _typed_value(schema: JSONDict, text: str) -> Any:
    kind = _schema_type(schema)
    if kind == "object" or kind is None:
        properties = schema.get("properties", {})
        return {name: example_value(sub, text) for name, sub in properties.items()}
    if kind == "array":
        return [example_value(schema.get("items", {}), text) for _ in range(int(schema.get("minItems", 1)))]
    if kind == "string":
        padded = text.ljust(int(schema.get("minLength", 0)), "x")
        return padded[: schema["maxLength"]] if "maxLength" in schema else padded
    if kind in ("integer", "number"):
        number = _number(schema)
        return int(number) if kind == "integer" else number
    return True if kind == "boolean" else None
