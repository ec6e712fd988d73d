"""Batched reads of the runs a worker generates (``ports.RunStatusReader``): one ``BatchGetItem`` of up to
100 run items per request, strongly consistent (``ConsistentRead`` is set per table in ``RequestItems``),
projected to the fields the worker watches. Keys DynamoDB leaves in ``UnprocessedKeys`` (throttling, the
16 MB response cap) are asked again, backing off, like ``DynamoTable.batch_delete``'s unprocessed items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from assistants_core.adapters.dynamodb.expressions import deserialize_item, key_of
from assistants_core.adapters.dynamodb.items import run_sk, thread_pk
from assistants_core.adapters.dynamodb.table import DynamoTable
from assistants_core.adapters.errors import aws_errors
from assistants_core.domain.errors import StorageError
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunSnapshot

MAX_BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
_RETRIES = 8
_WATCHED = ("SK", "#status", "lease_owner", "expires_at", "stream_log_seq")


def snapshot_from_item(item: dict[str, Any]) -> RunSnapshot:
    expires_at = item.get("expires_at")
    return RunSnapshot(
        status=RunStatus(item["status"]),
        lease_owner=item.get("lease_owner"),
        expires_at=None if expires_at is None else int(expires_at),
        stream_log_seq=None if item.get("stream_log_seq") is None else int(item["stream_log_seq"]),
    )


class DynamoRunStatusReader:
    def __init__(self, table: DynamoTable, *, sleep: Any = time.sleep) -> None:
        self._table = table
        self._sleep = sleep

    def read_snapshots(self, keys: Sequence[tuple[str, str]]) -> dict[str, RunSnapshot]:
        snapshots: dict[str, RunSnapshot] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), MAX_BATCH_GET_KEYS):
            for item in self._batch_get(unique[start : start + MAX_BATCH_GET_KEYS]):
                run_id = str(item["SK"]).removeprefix(run_sk(""))
                snapshots[run_id] = snapshot_from_item(item)
        return snapshots

    def _batch_get(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "Keys": [key_of(thread_pk(thread_id), run_sk(run_id)) for thread_id, run_id in keys],
            "ConsistentRead": True,
            "ProjectionExpression": ", ".join(_WATCHED),
            "ExpressionAttributeNames": {"#status": "status"},
        }
        items: list[dict[str, Any]] = []
        table = self._table.table_name
        for attempt in range(_RETRIES):
            with aws_errors("dynamodb.batch_get_item"):
                response = self._table.client.batch_get_item(RequestItems={table: request})
            items += [deserialize_item(raw) for raw in response.get("Responses", {}).get(table, [])]
            unprocessed = response.get("UnprocessedKeys", {}).get(table)
            if not unprocessed or not unprocessed.get("Keys"):
                return items
            request = unprocessed
            self._sleep(min(0.05 * 2**attempt, 1.0))
        raise StorageError("The server had an error while processing your request.")
