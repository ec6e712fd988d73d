"""What DynamoDB refuses and moto lets through, enforced on a client through botocore event hooks, plus
injection of the errors moto never raises. Written from AWS's documentation, independently of the adapters'
own size accounting, so a test against it checks the adapters and not themselves.

- ``DynamoDbRules.install(client)`` raises DynamoDB's ``ValidationException`` (as a ``ClientError``, before
  moto sees the request) for an item over 400 KB (attribute names + values, UTF-8, documented per-type
  sizes), a partition key over 2048 bytes or a sort key over 1024 bytes, a Number with more than 38
  significant digits, a string with a lone surrogate (not UTF-8), and a Query whose
  ``BETWEEN`` has its lower bound above its upper bound. Every refusal is recorded in ``violations``.
- ``inject_error(client, operation, code, times)`` answers the next ``times`` calls of ``operation`` with
  DynamoDB's error ``code`` instead of sending them (``before-call``: nothing reaches moto, and botocore
  raises it as it would the service's answer, without its own retries); ``answer_read_with_error`` answers
  at the transport (``before-send``) so botocore's real retry rules apply (only for reads: moto still sees
  the request); ``raise_on_send`` raises a transport exception there (timeouts, no connection), which stops
  the request before moto.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_NUMBER_DIGITS = 38
_BETWEEN = re.compile(r"(#\w+)\s+BETWEEN\s+(:\w+)\s+AND\s+(:\w+)")
_SERVER_ERRORS = frozenset({"InternalServerError", "ServiceUnavailable"})


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))  # raises UnicodeEncodeError on a lone surrogate


def _number_digits(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return len(digits)


def _value_size(value: dict[str, Any]) -> int:
    """DynamoDB's documented size of one attribute value ("Item sizes and formats")."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return _utf8_size(inner)
    if kind == "N":
        if _number_digits(inner) > MAX_NUMBER_DIGITS:
            raise ValueError(f"Number {inner[:20]}... has more than {MAX_NUMBER_DIGITS} significant digits")
        return (_number_digits(inner) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in inner)
    return 3 + sum(1 + _utf8_size(name) + _value_size(element) for name, element in inner.items())


def item_size(item: dict[str, Any]) -> int:
    return sum(_utf8_size(name) + _value_size(value) for name, value in item.items())


def validation_error(operation: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, operation)


@dataclass
class DynamoDbRules:
    violations: list[str] = field(default_factory=list)
    largest_item: int = 0

    def install(self, client: Any) -> DynamoDbRules:
        client.meta.events.register_first("before-parameter-build.dynamodb", self._check)
        return self

    def _refuse(self, operation: str, message: str) -> None:
        self.violations.append(f"{operation}: {message}")
        raise validation_error(operation, message)

    def _check(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        try:
            for item in self._items(operation, params):
                size = item_size(item)
                self.largest_item = max(self.largest_item, size)
                if size > MAX_ITEM_BYTES:
                    self._refuse(operation, "Item size has exceeded the maximum allowed size")
            for key in self._keys(operation, params):
                self._check_key(operation, key)
            for value in params.get("ExpressionAttributeValues", {}).values():
                _value_size(value)
        except (UnicodeEncodeError, ValueError) as problem:
            self._refuse(operation, f"One or more parameter values were invalid: {problem}")
        if operation == "Query":
            self._check_between(params)

    @staticmethod
    def _items(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if operation == "PutItem":
            return [params["Item"]]
        if operation == "TransactWriteItems":
            return [action["Put"]["Item"] for action in params["TransactItems"] if "Put" in action]
        if operation == "BatchWriteItem":
            return [
                request["PutRequest"]["Item"]
                for requests in params["RequestItems"].values()
                for request in requests
                if "PutRequest" in request
            ]
        return []

    @staticmethod
    def _keys(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        keys = [params["Key"]] if "Key" in params else []
        keys += [item for item in DynamoDbRules._items(operation, params)]
        for action in params.get("TransactItems", []):
            keys += [inner["Key"] for inner in action.values() if "Key" in inner]
        return keys

    def _check_key(self, operation: str, key: dict[str, Any]) -> None:
        for name, limit in (("PK", MAX_PARTITION_KEY_BYTES), ("SK", MAX_SORT_KEY_BYTES)):
            value = key.get(name, {}).get("S")
            if value is not None and _utf8_size(value) > limit:
                self._refuse(
                    operation, f"One or more parameter values were invalid: {name} exceeds {limit} bytes"
                )

    def _check_between(self, params: dict[str, Any]) -> None:
        values = params.get("ExpressionAttributeValues", {})
        for _, low, high in _BETWEEN.findall(params.get("KeyConditionExpression", "")):
            lower, upper = values[low]["S"], values[high]["S"]
            if lower.encode("utf-8") > upper.encode("utf-8"):
                self._refuse(
                    "Query",
                    "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be "
                    "greater than or equal to lower bound; lower bound operand: AttributeValue: "
                    f"{{S:{lower}}}, upper bound operand: AttributeValue: {{S:{upper}}}",
                )
            self._check_key("Query", {"SK": {"S": lower}})
            self._check_key("Query", {"SK": {"S": upper}})


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content


@dataclass
class InjectedErrors:
    """Counts the calls it answered (``answered``) and every call it saw (``seen``)."""

    answered: int = 0
    seen: int = 0


def _counting(
    client: Any, event: str, respond: Callable[[dict[str, Any]], Any], times: int | None, first: bool = True
) -> InjectedErrors:
    counts = InjectedErrors()

    def handler(**kwargs: Any) -> Any:
        counts.seen += 1
        if times is not None and counts.answered >= times:
            return None
        counts.answered += 1
        return respond(kwargs)

    client.meta.events.register_first(event, handler)
    return counts


def _error_body(code: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"injected {code}", **extra}


def _status(code: str) -> int:
    return 500 if code in _SERVER_ERRORS else 400


def inject_error(
    client: Any, operation: str, code: str, *, times: int | None = None, **extra: Any
) -> InjectedErrors:
    """The next ``times`` (None: every) ``operation`` calls fail with DynamoDB's error ``code`` (``extra``:
    more fields of the error body, e.g. ``CancellationReasons``) and change nothing."""
    message = extra.pop("message", f"injected {code}")
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": _status(code), "RequestId": "injected"},
        **extra,
    }

    def respond(_: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://dynamodb.invalid/", _status(code), {}, _Body(b"")), parsed

    return _counting(client, f"before-call.dynamodb.{operation}", respond, times)


def answer_read_with_error(
    client: Any, operation: str, code: str, *, times: int | None = None
) -> InjectedErrors:
    """Like ``inject_error`` but at the transport, so botocore parses and retries it as a real answer. Only
    for reads: moto still processes the request (and a write would happen)."""
    content = json.dumps(_error_body(code, {})).encode()

    def respond(kwargs: dict[str, Any]) -> AWSResponse:
        headers = {"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(kwargs["request"].url, _status(code), headers, _Body(content))

    return _counting(client, f"before-send.dynamodb.{operation}", respond, times)


def raise_on_send(
    client: Any, operation: str, make_error: Callable[[str], Exception], *, times: int | None = None
) -> InjectedErrors:
    """The next ``times`` (None: every) ``operation`` calls fail at the transport with ``make_error(url)``
    (botocore retries them as it would a real timeout or refused connection)."""

    def respond(kwargs: dict[str, Any]) -> Any:
        raise make_error(kwargs["request"].url)

    return _counting(client, f"before-send.dynamodb.{operation}", respond, times)
