"""Typed (de)serialisation of DynamoDB attribute values and the expression builder.

Floats are stored as ``Decimal`` (DynamoDB has no float type) and read back as ``int`` when integral, else
``float``; attribute names always go through ``#n`` placeholders (``status``, ``owner`` ... are reserved).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

Item = dict[str, Any]
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit (names and values, UTF-8)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(key): _to_dynamo(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(inner) for inner in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _from_dynamo(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(inner) for inner in value]
    return value


def serialize_value(value: Any) -> Any:
    return _serializer.serialize(_to_dynamo(value))


def serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: serialize_value(value) for key, value in item.items() if value is not None}


def deserialize_item(raw: Mapping[str, Any]) -> Item:
    return {key: _from_dynamo(_deserializer.deserialize(value)) for key, value in raw.items()}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return -(-len(digits) // 2) + 1


def attribute_value_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one serialized attribute value (its documented item-size rules)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(element).encode("utf-8")) for element in inner)
    if kind == "NS":
        return sum(_number_size(str(element)) for element in inner)
    if kind == "BS":
        return sum(len(element) for element in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(element) for element in inner)
    return 3 + sum(  # "M"
        1 + len(name.encode("utf-8")) + attribute_value_size(element) for name, element in inner.items()
    )


def item_size_bytes(serialized: Mapping[str, Any]) -> int:
    """The size DynamoDB counts against its 400 KB limit for a serialized item."""
    return sum(len(name.encode("utf-8")) + attribute_value_size(value) for name, value in serialized.items())


def key_of(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


class Expression:
    """Builds placeholder names/values for Condition-, Update- and KeyConditionExpressions."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, Any] = {}
        self._sets: list[str] = []
        self._removes: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = self._names.get(attribute)
        if placeholder is None:
            placeholder = f"#n{len(self._names)}"
            self._names[attribute] = placeholder
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = serialize_value(value)
        return placeholder

    def values_in(self, values: list[str]) -> str:
        """``(:v1, :v2, ...)`` for an ``IN`` comparison."""
        return "(" + ", ".join(self.value(value) for value in values) + ")"

    def set(self, attribute: str, value: Any) -> None:
        """SET the attribute, or REMOVE it when ``value`` is None."""
        if value is None:
            self.remove(attribute)
        else:
            self._sets.append(f"{self.name(attribute)} = {self.value(value)}")

    def set_clause(self, clause: str) -> None:
        self._sets.append(clause)

    def remove(self, attribute: str) -> None:
        self._removes.append(self.name(attribute))

    def params(self, *, condition: str | None = None, key_condition: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        clauses = []
        if self._sets:
            clauses.append("SET " + ", ".join(self._sets))
        if self._removes:
            clauses.append("REMOVE " + ", ".join(self._removes))
        if clauses:
            params["UpdateExpression"] = " ".join(clauses)
        if condition:
            params["ConditionExpression"] = condition
        if key_condition:
            params["KeyConditionExpression"] = key_condition
        if self._names:
            params["ExpressionAttributeNames"] = {
                placeholder: name for name, placeholder in self._names.items()
            }
        if self._values:
            params["ExpressionAttributeValues"] = dict(self._values)
        return params


def owned_condition(expression: Expression, owner: str) -> str:
    """The item exists and belongs to ``owner``."""
    owner_matches = f"{expression.name('owner')} = {expression.value(owner)}"
    return f"attribute_exists({expression.name('PK')}) AND {owner_matches}"


def absent_condition(expression: Expression) -> str:
    return f"attribute_not_exists({expression.name('PK')})"
