"""Two fixes to moto's DynamoDB for the local stack (``make run``) and the tests that run moto's server.

1. Atomic requests. DynamoDB applies each request atomically: a conditional write or a transaction cannot
   interleave with another write. moto's server answers every request on its own thread and evaluates
   conditions and then writes without a lock, so the API, the worker and the sweeper writing at once could
   both pass the same ``attribute_not_exists`` check. Here DynamoDB requests are applied one at a time.
2. Cheap transaction rollback. For ``TransactWriteItems`` moto deep-copies the whole table once per item of
   the transaction (to roll back on failure): with the run event log, the table grows by tens of items per
   run, and after a few hundred runs every transaction took seconds (a 5-item transaction on a 3,000-item
   table: ~1.2 s here), long enough, on a loaded machine, for the clients' 60 s read timeout. Here the
   backup holds only the items the transaction names, which is all a failed transaction may have changed.

``install()`` patches moto's classes in this process; it is idempotent.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

_install_lock = threading.Lock()
_INSTALLED_MARK = "_assistants_local_patches"
_request_lock = threading.RLock()

ItemBackup = tuple[Table, DynamoType, DynamoType | None, Any]


class _CopyKeepingTables:
    """Stands in for the ``copy`` module inside ``moto.dynamodb.models``: tables are not copied (the item
    backup below replaces moto's table backup); everything else is copied as before."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _item_key(table: Table, operation: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    source = operation["Key"] if "Key" in operation else operation["Item"]
    hash_value = DynamoType(source[table.hash_key_attr])
    range_attr = table.range_key_attr
    return hash_value, DynamoType(source[range_attr]) if range_attr is not None else None


def _backup_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[ItemBackup]:
    """The current state (a copy, or None when absent) of every item the transaction names that can be
    read; malformed operations are left for moto to reject (it rejects them before writing)."""
    backups: list[ItemBackup] = []
    for transact_item in transact_items:
        try:
            operation = next(iter(transact_item.values()))
            table = backend.tables[operation["TableName"]]
            hash_value, range_value = _item_key(table, operation)
        except (KeyError, StopIteration, TypeError, AttributeError):
            continue
        current = table.get_item(hash_value, range_value)
        backups.append((table, hash_value, range_value, copy.deepcopy(current)))
    return backups


def _restore_items(backups: list[ItemBackup]) -> None:
    """Put every named item back as it was (moto's own rollback, with tables not copied, is a no-op)."""
    for table, hash_value, range_value, item in reversed(backups):
        partition = table.items if range_value is None else table.items[hash_value]
        key = hash_value if range_value is None else range_value
        if item is None:
            partition.pop(key, None)
        else:
            partition[key] = item


def _transact_with_item_backup(unpatched: Callable[..., None]) -> Callable[..., None]:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = _backup_items(self, transact_items)
        try:
            unpatched(self, transact_items)
        except Exception:
            _restore_items(backups)
            raise

    return transact_write_items


def _serialised(unpatched: Callable[..., Any]) -> Callable[..., Any]:
    def call_action(self: Any) -> Any:
        with _request_lock:
            return unpatched(self)

    return call_action


def install() -> None:
    """Patch moto's DynamoDB in this process (the local stack's moto server runs in it)."""
    with _install_lock:
        if getattr(DynamoHandler, _INSTALLED_MARK, False):
            return
        setattr(dynamodb_models, "copy", _CopyKeepingTables())  # noqa: B010 (a module attribute moto reads)
        backend = dynamodb_models.DynamoDBBackend
        backend.transact_write_items = _transact_with_item_backup(  # type: ignore[method-assign]
            backend.transact_write_items
        )
        DynamoHandler.call_action = _serialised(DynamoHandler.call_action)  # type: ignore[method-assign]
        setattr(DynamoHandler, _INSTALLED_MARK, True)
