"""Reads through GSI2, which projects keys only (template.yaml): a table item that stays in the index while
its other attributes change (a run claimed or its lease renewed, a store file's progress) then costs no index
write. The entries a Query of GSI2 returns are read back by key."""

from __future__ import annotations

from collections.abc import Sequence

from assistants_core.adapters.dynamodb.table import DynamoTable, Item


def indexed_items(table: DynamoTable, entries: Sequence[Item]) -> list[Item]:
    """The table items of GSI2 ``entries``, in the entries' order, those still in the index only (an item
    deleted, or gone from the index, since the Query is left out); eventually consistent."""
    keys = [(str(entry["PK"]), str(entry["SK"])) for entry in entries]
    found = {(str(item["PK"]), str(item["SK"])): item for item in table.batch_get(keys, consistent=False)}
    return [found[key] for key in keys if key in found and "GSI2PK" in found[key]]
