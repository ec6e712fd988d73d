"""When the worker claimed and finished each run, seen by botocore hooks on its DynamoDB client: the
production consumer unchanged, whether or not the run has an event log."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunTimes:
    """When the worker's claim of each run (its conditional update) and its final write (a transaction whose
    first item updates the run) were answered, seen by botocore hooks on the worker's DynamoDB client."""

    claimed_at: dict[str, float] = field(default_factory=dict)
    finished_at: dict[str, float] = field(default_factory=dict)

    def watch(self, dynamodb: Any) -> None:
        events = dynamodb.meta.events
        events.register("after-call.dynamodb.UpdateItem", self._claimed)
        events.register("before-parameter-build.dynamodb.TransactWriteItems", self._remember_run)
        events.register("after-call.dynamodb.TransactWriteItems", self._finished)

    def _claimed(self, parsed: Mapping[str, Any], **kwargs: Any) -> None:
        attributes = parsed.get("Attributes", {})
        if attributes.get("status") == {"S": "in_progress"} and "SK" in attributes:
            run_id = attributes["SK"]["S"].removeprefix("RUN#")
            self.claimed_at.setdefault(run_id, time.perf_counter())

    @staticmethod
    def _remember_run(params: Mapping[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        key = params.get("TransactItems", [{}])[0].get("Update", {}).get("Key", {})
        if str(key.get("SK", {}).get("S", "")).startswith("RUN#"):
            context["bench_run_id"] = key["SK"]["S"].removeprefix("RUN#")

    def _finished(self, parsed: Mapping[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        run_id = context.get("bench_run_id")
        if run_id and "Error" not in parsed:
            self.finished_at[run_id] = time.perf_counter()
