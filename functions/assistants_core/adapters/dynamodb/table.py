"""Low-level access to the single DynamoDB table: typed (de)serialisation, expressions, queries, transactions.

Everything here speaks plain Python dicts (deserialised items); repositories map them to domain objects
with the mappers in ``items.py``. Every call goes through ``aws_errors``, so callers only ever see
``ConditionFailedError``, ``TransactionCancelledError`` or domain errors.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from assistants_core.adapters.dynamodb.expressions import (
    MAX_ITEM_BYTES,
    Expression,
    Item,
    absent_condition,
    deserialize_item,
    item_size_bytes,
    key_of,
    owned_condition,
    serialize_item,
)
from assistants_core.adapters.errors import TOO_LARGE_MESSAGE, WriteConflictError, aws_errors
from assistants_core.domain.errors import InvalidRequestError, StorageError
from assistants_core.domain.models import PageRequest
from assistants_core.ports import BodyStore

__all__ = [
    "MAX_TRANSACTION_ITEMS",
    "DynamoTable",
    "Expression",
    "Item",
    "absent_condition",
    "owned_condition",
]

MAX_TRANSACTION_ITEMS = 100
MAX_BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
_BATCH_WRITE_ITEMS = 25
_BATCH_RETRIES = 8
# A write that lost to another request's transaction (TransactionConflictException, or a transaction
# cancelled only for TransactionConflict) wrote nothing: try it again this many times in all, with short
# jittered pauses (~0.3 s at most together), then answer 409 conflict_error.
WRITE_CONFLICT_ATTEMPTS = 4
_CONFLICT_BACKOFF_SECONDS = 0.025
ResultT = TypeVar("ResultT")
PendingT = TypeVar("PendingT")  # what a batch request still has to send: its items or keys
_SORT_KEY_CEILING = "~"  # above every character used in our sort keys (ids are lowercase base32, "_", "#")


def _between_bounds(prefix: str, lower: str | None, upper: str | None) -> tuple[str, str]:
    """The inclusive ``BETWEEN`` bounds for ``prefix`` and the optional bounds."""
    low = lower if lower is not None else prefix
    high = upper if upper is not None else prefix + _SORT_KEY_CEILING
    return low, high


def _bounds_cross(prefix: str, lower: str | None, upper: str | None) -> bool:
    """Whether no sort key can lie strictly between the bounds (and within ``prefix``). DynamoDB rejects a
    ``BETWEEN`` whose lower bound is above the upper one (ValidationException; moto answers an empty page),
    so such a query is never sent. Python orders strings by code point, as DynamoDB does by UTF-8 bytes."""
    if lower is None and upper is None:
        return False
    if lower is not None and upper is not None:
        return lower >= upper
    low, high = _between_bounds(prefix, lower, upper)
    return bool(prefix) and low > high


def _sort_key_condition(
    expression: Expression, sort_attribute: str, prefix: str, lower: str | None, upper: str | None
) -> str | None:
    """Sort key within ``prefix`` and the bounds (inclusive; callers drop items equal to a bound)."""
    if lower is None and upper is None and not prefix:
        return None
    sort = expression.name(sort_attribute)
    if lower is None and upper is None:
        return f"begins_with({sort}, {expression.value(prefix)})"
    if prefix or (lower is not None and upper is not None):
        low, high = _between_bounds(prefix, lower, upper)
        return f"{sort} BETWEEN {expression.value(low)} AND {expression.value(high)}"
    if lower is not None:
        return f"{sort} > {expression.value(lower)}"
    return f"{sort} < {expression.value(upper)}"


def retry_write_conflicts(operation: str, call: Callable[[], ResultT]) -> ResultT:
    """``call()`` (a write inside ``aws_errors``), again after a ``WriteConflictError``, at most
    ``WRITE_CONFLICT_ATTEMPTS`` times in all."""
    for attempt in range(1, WRITE_CONFLICT_ATTEMPTS + 1):
        try:
            return call()
        except WriteConflictError:
            if attempt == WRITE_CONFLICT_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.5, 1.0) * _CONFLICT_BACKOFF_SECONDS * 2**attempt)
    raise AssertionError(operation)  # unreachable: the last attempt returns or raises


def serialize_storable_item(item: Item) -> dict[str, Any]:
    """The serialized item, or a 400 when it is over DynamoDB's 400 KB (which DynamoDB would refuse with a
    ValidationException). Services check their inputs' sizes first and name the field; this is the net."""
    serialized = serialize_item(item)
    size = item_size_bytes(serialized)
    if size > MAX_ITEM_BYTES:
        raise InvalidRequestError(f"{TOO_LARGE_MESSAGE} ({size} bytes)", code="request_too_large")
    return serialized


class DynamoTable:
    def __init__(
        self, client: Any, table_name: str, bodies: BodyStore, inline_body_limit_bytes: int = 65536
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.bodies = bodies
        self.inline_body_limit_bytes = inline_body_limit_bytes

    # -- single items ---------------------------------------------------------------------------------------
    def get(self, pk: str, sk: str) -> Item | None:
        with aws_errors("dynamodb.get_item"):
            response = self.client.get_item(
                TableName=self.table_name, Key=key_of(pk, sk), ConsistentRead=True
            )
        raw = response.get("Item")
        return deserialize_item(raw) if raw else None

    def put(self, item: Item, expression: Expression, condition: str) -> None:
        params = {
            "TableName": self.table_name,
            "Item": serialize_storable_item(item),
            **expression.params(condition=condition),
        }
        self._write("dynamodb.put_item", self.client.put_item, params)

    def update(
        self, pk: str, sk: str, expression: Expression, condition: str, *, return_new: bool = False
    ) -> Item:
        params = {
            "TableName": self.table_name,
            "Key": key_of(pk, sk),
            "ReturnValues": "ALL_NEW" if return_new else "NONE",
            **expression.params(condition=condition),
        }
        response = self._write("dynamodb.update_item", self.client.update_item, params)
        return deserialize_item(response.get("Attributes", {}))

    def delete(self, pk: str, sk: str, expression: Expression, condition: str) -> Item:
        """Conditional delete; returns the deleted item."""
        params = {
            "TableName": self.table_name,
            "Key": key_of(pk, sk),
            "ReturnValues": "ALL_OLD",
            **expression.params(condition=condition),
        }
        response = self._write("dynamodb.delete_item", self.client.delete_item, params)
        return deserialize_item(response.get("Attributes", {}))

    @staticmethod
    def _write(operation: str, method: Callable[..., Any], params: dict[str, Any]) -> Any:
        """One write request, retried after a lost transaction conflict (it wrote nothing)."""

        def attempt() -> Any:
            with aws_errors(operation):
                return method(**params)

        return retry_write_conflicts(operation, attempt)

    # -- transactions ---------------------------------------------------------------------------------------
    def put_op(self, item: Item, expression: Expression, condition: str | None = None) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": serialize_storable_item(item),
                **expression.params(condition=condition),
            }
        }

    def update_op(self, pk: str, sk: str, expression: Expression, condition: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": key_of(pk, sk),
                **expression.params(condition=condition),
            }
        }

    def delete_op(self, pk: str, sk: str, expression: Expression, condition: str) -> dict[str, Any]:
        return {
            "Delete": {
                "TableName": self.table_name,
                "Key": key_of(pk, sk),
                **expression.params(condition=condition),
            }
        }

    def check_op(self, pk: str, sk: str, expression: Expression, condition: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": key_of(pk, sk),
                **expression.params(condition=condition),
            }
        }

    def transact(self, operations: list[dict[str, Any]]) -> None:
        """All-or-nothing write; raises ``TransactionCancelledError`` with per-operation reasons."""
        if len(operations) > MAX_TRANSACTION_ITEMS:
            raise InvalidRequestError(
                f"Too many items in one request ({len(operations)}); the limit is {MAX_TRANSACTION_ITEMS}."
            )
        self._write(
            "dynamodb.transact_write_items", self.client.transact_write_items, {"TransactItems": operations}
        )

    # -- queries --------------------------------------------------------------------------------------------
    def query(
        self,
        *,
        partition: tuple[str, str],
        sort_attribute: str,
        prefix: str,
        lower: str | None = None,
        upper: str | None = None,
        forward: bool = True,
        want: int | None = None,
        index: str | None = None,
        keep: Callable[[Item], bool] | None = None,
        keys_only: bool = False,
    ) -> list[Item]:
        """Items of one partition whose sort key starts with ``prefix`` and lies strictly between the optional
        ``lower``/``upper`` bounds, in sort-key order (reversed unless ``forward``), up to ``want`` of those
        that pass ``keep``. Pages through the Query as needed; never scans."""
        if _bounds_cross(prefix, lower, upper):
            return []
        expression = Expression()
        pk_attribute, pk_value = partition
        key_condition = f"{expression.name(pk_attribute)} = {expression.value(pk_value)}"
        sort_condition = _sort_key_condition(expression, sort_attribute, prefix, lower, upper)
        if sort_condition:
            key_condition += f" AND {sort_condition}"
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "ScanIndexForward": forward,
            **expression.params(key_condition=key_condition),
        }
        if index:
            params["IndexName"] = index
        else:
            params["ConsistentRead"] = True
        if keys_only:
            params["ProjectionExpression"] = "PK, SK"
        results: list[Item] = []
        while True:
            if want is not None:
                params["Limit"] = want - len(results) + 2  # +2: the excluded bounds may be in the page
            with aws_errors("dynamodb.query"):
                response = self.client.query(**params)
            for raw in response.get("Items", []):
                item = deserialize_item(raw)
                if item.get(sort_attribute) in (lower, upper):
                    continue
                if keep is None or keep(item):
                    results.append(item)
                if want is not None and len(results) >= want:
                    return results
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return results
            params["ExclusiveStartKey"] = last_key

    def list_page(
        self,
        *,
        partition: tuple[str, str],
        sort_attribute: str,
        prefix: str,
        page: PageRequest,
        index: str | None = None,
        keep: Callable[[Item], bool] | None = None,
        cursor_key: Callable[[str, str], str] | None = None,
    ) -> tuple[list[Item], bool]:
        """One OpenAI list page: ``after``/``before`` are ids (sort key = ``prefix + id``, or
        ``cursor_key(id, param)`` where the sort key is not derived from the id alone); returns (items in
        the requested order, has_more)."""
        if page.order not in ("asc", "desc"):
            raise InvalidRequestError("order must be 'asc' or 'desc'.", param="order")
        descending = page.order == "desc"

        def key_of_cursor(object_id: str | None, param: str) -> str | None:
            if not object_id:
                return None
            return cursor_key(object_id, param) if cursor_key else prefix + object_id

        after_key = key_of_cursor(page.after, "after")
        before_key = key_of_cursor(page.before, "before")
        lower, upper = (before_key, after_key) if descending else (after_key, before_key)
        backwards_from_before = before_key is not None and after_key is None
        forward = descending if backwards_from_before else not descending
        items = self.query(
            partition=partition,
            sort_attribute=sort_attribute,
            prefix=prefix,
            lower=lower,
            upper=upper,
            forward=forward,
            want=page.limit + 1,
            index=index,
            keep=keep,
        )
        has_more = len(items) > page.limit
        items = items[: page.limit]
        if backwards_from_before:
            items.reverse()
        return items, has_more

    # -- batches --------------------------------------------------------------------------------------------
    def batch_delete(self, keys: list[tuple[str, str]]) -> None:
        def send(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
            response = self._write(
                "dynamodb.batch_write_item",
                self.client.batch_write_item,
                {"RequestItems": {self.table_name: requests}},
            )
            left: list[dict[str, Any]] = response.get("UnprocessedItems", {}).get(self.table_name, [])
            return left

        for start in range(0, len(keys), _BATCH_WRITE_ITEMS):
            batch = [
                {"DeleteRequest": {"Key": key_of(pk, sk)}}
                for pk, sk in keys[start : start + _BATCH_WRITE_ITEMS]
            ]
            _until_processed(send, batch, time.sleep)

    def batch_get(
        self,
        keys: Sequence[tuple[str, str]],
        *,
        consistent: bool = True,
        projection: Sequence[str] = (),
        names: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[Item]:
        """The items of ``keys`` that exist, in no particular order: one ``BatchGetItem`` per 100 keys,
        ``projection`` (attribute names or ``names`` placeholders) when given. Keys DynamoDB leaves in
        ``UnprocessedKeys`` (throttling, the 16 MB response cap) are asked again, backing off."""
        items: list[Item] = []

        def send(request: dict[str, Any]) -> dict[str, Any] | None:
            with aws_errors("dynamodb.batch_get_item"):
                response = self.client.batch_get_item(RequestItems={self.table_name: request})
            items.extend(
                deserialize_item(raw) for raw in response.get("Responses", {}).get(self.table_name, [])
            )
            left: dict[str, Any] | None = response.get("UnprocessedKeys", {}).get(self.table_name)
            return left if left and left.get("Keys") else None

        options: dict[str, Any] = {"ConsistentRead": consistent}
        if projection:
            options["ProjectionExpression"] = ", ".join(projection)
        if names:
            options["ExpressionAttributeNames"] = dict(names)
        for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
            batch = [key_of(pk, sk) for pk, sk in keys[start : start + MAX_BATCH_GET_KEYS]]
            _until_processed(send, {"Keys": batch, **options}, sleep)
        return items


def _until_processed(
    send: Callable[[PendingT], PendingT | None], pending: PendingT, sleep: Callable[[float], None]
) -> None:
    """``send`` a batch, then what DynamoDB left unprocessed (throttling, size caps) again, backing off, until
    nothing is left; ``StorageError`` after ``_BATCH_RETRIES`` sends."""
    for attempt in range(_BATCH_RETRIES):
        left = send(pending)
        if not left:
            return
        pending = left
        sleep(min(0.05 * 2**attempt, 1.0))
    raise StorageError("The server had an error while processing your request.")
