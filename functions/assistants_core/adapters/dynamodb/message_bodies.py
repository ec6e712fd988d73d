"""Where a message body lives: inline on the item, or in S3 when above the inline limit.

Each upload gets its own key (``threads/<thread_id>/messages/<message_id>/<write id>.json``): a duplicate
write of the same message (a worker retry) must neither overwrite the stored body nor, when rejected, delete
it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from assistants_core.adapters.dynamodb.items import Item, message_body, message_from_item, message_to_item
from assistants_core.adapters.dynamodb.table import DynamoTable
from assistants_core.domain.models import Message


def thread_body_prefix(thread_id: str) -> str:
    return f"threads/{thread_id}/"


def message_body_key(thread_id: str, message_id: str) -> str:
    return f"{thread_body_prefix(thread_id)}messages/{message_id}/{secrets.token_hex(8)}.json"


# DynamoDB caps a transaction at 4 MB; inline bodies of one transaction share this budget.
TRANSACTION_INLINE_BUDGET_BYTES = 3 * 1024 * 1024


def store_message_item(table: DynamoTable, message: Message, *, inline_limit: int | None = None) -> Item:
    """The item for ``message``; a large body is uploaded to S3 now, before any DynamoDB write."""
    body = message_body(message)
    limit = table.inline_body_limit_bytes if inline_limit is None else inline_limit
    if len(body.encode()) <= limit:
        return message_to_item(message, body=body, body_key=None)
    key = message_body_key(message.thread_id, message.id)
    table.bodies.put_body(key, body.encode())
    return message_to_item(message, body=None, body_key=key)


def store_message_items(table: DynamoTable, messages: list[Message]) -> list[Item]:
    """Items for messages written in one transaction, keeping their inline bodies within its size cap."""
    share = TRANSACTION_INLINE_BUDGET_BYTES // max(len(messages), 1)
    limit = min(table.inline_body_limit_bytes, share)
    return [store_message_item(table, message, inline_limit=limit) for message in messages]


def forget_uploaded_bodies(table: DynamoTable, items: list[Item]) -> None:
    """Remove bodies uploaded for items whose DynamoDB write did not happen."""
    for item in items:
        if item.get("body_key"):
            table.bodies.delete_prefix(str(item["body_key"]))


def load_message(table: DynamoTable, item: Mapping[str, Any]) -> Message:
    body_key = item.get("body_key")
    body = table.bodies.get_body(str(body_key)).decode() if body_key else str(item["body"])
    return message_from_item(item, body)
