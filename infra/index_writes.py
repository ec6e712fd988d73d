"""Which global secondary index (GSI) entries one DynamoDB write writes, by AWS's documented rules, from the
item as it was before the write and as it is after it, and the table's indexes as template.yaml defines them.

The rules (DynamoDB Developer Guide, "Global secondary indexes", section "Write capacity units"): a write
that does not affect an index writes nothing to it; otherwise

- an item that enters the index (a new item with the index's key attributes, or an update that defines a
  previously undefined key attribute) takes 1 write: the new entry is put;
- an update that changes an index key attribute's value takes 2: the old entry is deleted, the new one put;
- an item that leaves the index (it is deleted, or an update removes a key attribute: a sparse index) takes 1:
  the old entry is deleted;
- an update that changes only projected non-key attributes takes 1; one that changes none takes none.

Each index write is billed like a table write: 1 unit per started KB of the index entry (its projected
attributes: with ``ProjectionType: ALL`` the whole item). An entry replaced in place is counted at the larger
of its two sizes, as DynamoDB bills an item a write replaces. Pure functions; ``infra.index_write_log``
finds the images (from the requests, one first read of an item, and updates replayed) and sizes the entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.aws_resources import TABLE_RESOURCE, load_template

Item = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GlobalIndex:
    name: str
    keys: tuple[str, ...]  # the partition key, then the sort key if the index has one
    projected: frozenset[str] | None  # the projected non-key attributes; None: all of them (``ALL``)


@dataclass(frozen=True, slots=True)
class TableIndexes:
    """A table's primary key attributes and its global secondary indexes."""

    table_keys: tuple[str, ...]
    indexes: tuple[GlobalIndex, ...]

    @classmethod
    def from_template(cls, template: Mapping[str, Any] | None = None) -> TableIndexes:
        """The single table's keys and indexes as template.yaml (or ``template``) defines them."""
        resource = (template or load_template())["Resources"][TABLE_RESOURCE]["Properties"]
        return cls(
            table_keys=_key_names(resource["KeySchema"]),
            indexes=tuple(
                GlobalIndex(
                    index["IndexName"], _key_names(index["KeySchema"]), _projected(index["Projection"])
                )
                for index in resource.get("GlobalSecondaryIndexes", [])
            ),
        )

    def key_of(self, item: Item) -> dict[str, Any]:
        """The primary key of ``item``."""
        return {name: item[name] for name in self.table_keys}

    def entry(self, item: Item | None, index: GlobalIndex) -> dict[str, Any] | None:
        """What ``index`` holds for ``item``: None when the item lacks one of the index's key attributes."""
        if item is None or any(name not in item for name in index.keys):
            return None
        if index.projected is None:
            return dict(item)
        kept = {*self.table_keys, *index.keys, *index.projected}
        return {name: value for name, value in item.items() if name in kept}


def _key_names(schema: list[Mapping[str, str]]) -> tuple[str, ...]:
    ordered = sorted(schema, key=lambda key: key["KeyType"] != "HASH")
    return tuple(key["AttributeName"] for key in ordered)


def _projected(projection: Mapping[str, Any]) -> frozenset[str] | None:
    kind = projection.get("ProjectionType", "KEYS_ONLY")
    if kind == "ALL":
        return None
    return frozenset(projection.get("NonKeyAttributes", [])) if kind == "INCLUDE" else frozenset()


def index_entry_writes(
    before: Item | None, after: Item | None, table: TableIndexes, size: Callable[[Item], int]
) -> list[tuple[str, int]]:
    """``(index name, bytes of the entry written)`` for each index write that turning ``before`` into
    ``after`` takes (None: no item); ``size`` gives an entry's bytes."""
    writes: list[tuple[str, int]] = []
    for index in table.indexes:
        old, new = table.entry(before, index), table.entry(after, index)
        if old == new:  # in the index neither before nor after, or unchanged there
            continue
        if old is not None and new is not None:
            if any(
                old[name] != new[name] for name in index.keys
            ):  # moves: the old entry deleted, the new put
                writes += [(index.name, size(old)), (index.name, size(new))]
            else:  # projected attributes changed in place
                writes.append((index.name, max(size(old), size(new))))
        elif new is not None:  # enters the index
            writes.append((index.name, size(new)))
        elif old is not None:  # leaves it
            writes.append((index.name, size(old)))
    return writes


@dataclass(frozen=True, slots=True)
class WrittenItem:
    """One item a write call may change, and what the request itself says about it: a put gives the item
    after the write (``after``), a delete that there is none, and a put or update conditioned on the item
    not existing (``attribute_not_exists`` of a key attribute, not inside an OR) that there was none before,
    once the call succeeded. What it does not say has to be found otherwise (``read_before``: the item before,
    ``read_after``: after, an update's result)."""

    table_name: str
    key: dict[str, Any]
    read_before: bool = True
    read_after: bool = True
    after: Item | None = None


def written_items(operation: str, params: Mapping[str, Any], table: TableIndexes) -> list[WrittenItem]:
    """The items one write call may change (a transaction's condition checks change none)."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [_written(operation.removesuffix("Item"), params["TableName"], params, table)]
    if operation == "BatchWriteItem":
        return [
            _written(kind.removesuffix("Request"), name, body, table)
            for name, requests in params.get("RequestItems", {}).items()
            for kind, body in (next(iter(request.items())) for request in requests)
        ]
    if operation == "TransactWriteItems":
        entries = (next(iter(entry.items())) for entry in params.get("TransactItems", []))
        return [
            _written(kind, body["TableName"], body, table)
            for kind, body in entries
            if kind != "ConditionCheck"
        ]
    return []


def _written(kind: str, table_name: str, body: Mapping[str, Any], table: TableIndexes) -> WrittenItem:
    """``kind``: Put, Update or Delete; ``body``: its parameters (``Item`` or ``Key``, any condition)."""
    absent_before = _requires_absence(body, table)
    if kind == "Put":
        item = body["Item"]
        return WrittenItem(table_name, table.key_of(item), not absent_before, read_after=False, after=item)
    return WrittenItem(table_name, dict(body["Key"]), not absent_before, read_after=kind != "Delete")


def _requires_absence(body: Mapping[str, Any], table: TableIndexes) -> bool:
    """Whether the write's condition holds only if the item did not exist."""
    names = body.get("ExpressionAttributeNames", {})
    condition = re.sub(
        r"#\w+", lambda found: names.get(found[0], found[0]), body.get("ConditionExpression", "")
    )
    if " OR " in condition.upper():
        return False
    conjuncts = {part.strip() for part in condition.replace(" and ", " AND ").split(" AND ")}
    return any(f"attribute_not_exists({key})" in conjuncts for key in table.table_keys)


def replayed_update(body: Mapping[str, Any], table_name: str) -> dict[str, Any]:
    """``UpdateItem`` parameters that apply ``body``'s update (an ``UpdateItem`` call's or a transaction's
    ``Update``) to the same key in ``table_name``, without its condition: the placeholders only the condition
    used are left out (DynamoDB rejects unused ones)."""
    update = body["UpdateExpression"]
    used = set(re.findall(r"[#:]\w+", update))
    replay: dict[str, Any] = {"TableName": table_name, "Key": body["Key"], "UpdateExpression": update}
    for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        kept = {
            placeholder: value for placeholder, value in body.get(field, {}).items() if placeholder in used
        }
        if kept:
            replay[field] = kept
    return replay
