"""Batched reads of the runs a worker generates (``ports.RunStatusReader``): one ``BatchGetItem`` of up to
100 run items per request, strongly consistent (``ConsistentRead`` is set per table in ``RequestItems``),
projected to the fields the worker watches. Keys DynamoDB leaves in ``UnprocessedKeys`` (throttling, the
16 MB response cap) are asked again, backing off, like ``DynamoTable.batch_delete``'s unprocessed items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from assistants_core.adapters.dynamodb.items import run_sk, thread_pk
from assistants_core.adapters.dynamodb.table import DynamoTable
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunSnapshot

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
        for item in self._batch_get(list(dict.fromkeys(keys))):  # the table reads 100 keys per request
            run_id = str(item["SK"]).removeprefix(run_sk(""))
            snapshots[run_id] = snapshot_from_item(item)
        return snapshots

    def _batch_get(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        return self._table.batch_get(
            [(thread_pk(thread_id), run_sk(run_id)) for thread_id, run_id in keys],
            projection=_WATCHED,
            names={"#status": "status"},
            sleep=self._sleep,
        )
