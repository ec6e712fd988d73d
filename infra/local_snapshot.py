"""Compaction of the local stack's journal (``infra.local_state``): a snapshot of what moto stores now,
written as journal entries that rebuild it (every table's items in ``BatchWriteItem`` requests, every
object's latest version, every queued message once), replacing the journal atomically."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import FakeKey, s3_backends
from moto.sqs.models import sqs_backends
from werkzeug.test import Client

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_DYNAMODB_JSON = "application/x-amz-json-1.0"
_BATCH_WRITE_ITEMS = 25


def _synthetic_request(
    service: str, region: str, method: str, path: str, *, body: bytes, headers: dict[str, str]
) -> dict[str, Any]:
    """A journal entry for a request the snapshot makes up (moto routes it by the credential scope)."""
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=local/20000101/{region}/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )
    return {
        "kind": "request",
        "method": method,
        "path": path,
        "query": "",
        "headers": {"host": "127.0.0.1", "authorization": authorization, **headers},
        "body": base64.b64encode(body).decode(),
    }


def _dynamodb_request(region: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}", "content-type": _DYNAMODB_JSON}
    body = json.dumps(payload).encode()
    return _synthetic_request("dynamodb", region, "POST", "/", body=body, headers=headers)


def _table_snapshot(client: Client, region: str, table_name: str) -> Iterator[dict[str, Any]]:
    """``BatchWriteItem`` entries putting every item of the table (read with a paginated Scan)."""
    scan: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        request = _dynamodb_request(region, "Scan", scan)
        response = client.open(
            path="/",
            method="POST",
            headers=list(request["headers"].items()),
            data=base64.b64decode(request["body"]),
        )
        page: dict[str, Any] = json.loads(response.get_data())
        response.close()
        if response.status_code != 200:
            raise RuntimeError(f"scanning {table_name} for the snapshot failed: {page}")
        items = page.get("Items", [])
        for start in range(0, len(items), _BATCH_WRITE_ITEMS):
            puts = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH_WRITE_ITEMS]]
            yield _dynamodb_request(region, "BatchWriteItem", {"RequestItems": {table_name: puts}})
        if not page.get("LastEvaluatedKey"):
            return
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def snapshot_entries(app: WsgiApp, region: str) -> Iterator[dict[str, Any]]:
    """Journal entries that rebuild what moto stores now (tables, objects, queued messages)."""
    client = Client(app)
    for table_name in list(dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables):
        yield from _table_snapshot(client, region, table_name)
    for bucket_name, bucket in list(s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets.items()):
        for key in list(bucket.keys.values()):
            if isinstance(key, FakeKey):  # not a delete marker
                content_type = str(key.metadata.get("Content-Type") or "application/octet-stream")
                yield _synthetic_request(
                    "s3",
                    region,
                    "PUT",
                    f"/{bucket_name}/{key.name}",
                    body=key.value,
                    headers={"content-type": content_type},
                )
    for queue_name, queue in list(sqs_backends[DEFAULT_ACCOUNT_ID][region].queues.items()):
        for message in list(queue._messages):  # moto keeps no public list of stored messages
            payload = {
                "QueueUrl": f"http://127.0.0.1/{DEFAULT_ACCOUNT_ID}/{queue_name}",
                "MessageBody": message.body,
            }
            headers = {"x-amz-target": "AmazonSQS.SendMessage", "content-type": _DYNAMODB_JSON}
            body = json.dumps(payload).encode()
            request = _synthetic_request("sqs", region, "POST", "/", body=body, headers=headers)
            yield {**request, "kind": "sqs_send", "queue": queue_name, "message_ids": [message.id]}


def write_snapshot(app: WsgiApp, region: str, path: Path) -> int:
    """Replace the journal at ``path`` with a snapshot of moto's state (atomically); returns its entries."""
    temporary = path.with_suffix(".compacting")
    entries = list(snapshot_entries(app, region))
    with temporary.open("w", encoding="utf-8") as file:
        for entry in [{"kind": "snapshot", "entries": len(entries)}, *entries]:
            file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return len(entries)


def is_snapshot_only(entries: list[dict[str, Any]]) -> bool:
    """The journal is one snapshot and nothing after it (compacting it again would change nothing)."""
    return bool(entries) and entries[0]["kind"] == "snapshot" and len(entries) == entries[0]["entries"] + 1
