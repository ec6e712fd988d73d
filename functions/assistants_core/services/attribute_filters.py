"""OpenAI's search ``filters`` on file attributes: a comparison (``eq ne gt gte lt lte in nin`` on ``key``)
or a compound (``and`` / ``or`` over filters). Checked before use: a bad filter is a 400 on ``filters``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistants_core.domain.errors import InvalidRequestError

COMPARISONS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"})
COMPOUNDS = frozenset({"and", "or"})
_MAX_DEPTH = 8


def _bad(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid '{param}': {message}", param=param)


def validate_filter(node: Any, param: str = "filters", depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise _bad(f"filters nest deeper than {_MAX_DEPTH} levels.", param)
    if not isinstance(node, Mapping):
        raise _bad("expected an object.", param)
    kind = node.get("type")
    if kind in COMPOUNDS:
        children = node.get("filters")
        if not isinstance(children, list) or not children:
            raise _bad("a compound filter needs a non-empty 'filters' list.", f"{param}.filters")
        for index, child in enumerate(children):
            validate_filter(child, f"{param}.filters[{index}]", depth + 1)
        return
    if kind not in COMPARISONS:
        expected = ", ".join(sorted(COMPARISONS | COMPOUNDS))
        raise _bad(f"'type' must be one of {expected}.", f"{param}.type")
    if not isinstance(node.get("key"), str):
        raise _bad("'key' must be a string.", f"{param}.key")
    value = node.get("value")
    if kind in ("in", "nin"):
        if not isinstance(value, list) or not all(isinstance(item, str | int | float) for item in value):
            raise _bad("'value' must be a list of strings or numbers.", f"{param}.value")
    elif not isinstance(value, str | int | float | bool):
        raise _bad("'value' must be a string, number or boolean.", f"{param}.value")


def _compare(kind: str, actual: Any, expected: Any) -> bool:
    if kind == "eq":
        return bool(actual == expected)
    if kind == "ne":
        return bool(actual != expected)
    if kind == "in":
        return actual in expected
    if kind == "nin":
        return actual not in expected
    numbers = isinstance(actual, int | float) and isinstance(expected, int | float)
    strings = isinstance(actual, str) and isinstance(expected, str)
    if not (numbers or strings) or isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if kind == "gt":
        return bool(actual > expected)
    if kind == "gte":
        return bool(actual >= expected)
    if kind == "lt":
        return bool(actual < expected)
    return bool(actual <= expected)


def matches(node: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    kind = node["type"]
    if kind == "and":
        return all(matches(child, attributes) for child in node["filters"])
    if kind == "or":
        return any(matches(child, attributes) for child in node["filters"])
    key = node["key"]
    if key not in attributes:
        return kind in ("ne", "nin")
    return _compare(kind, attributes[key], node["value"])
