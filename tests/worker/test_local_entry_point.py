"""The local worker entry point, wired from the environment exactly as ``make run`` starts it."""

from __future__ import annotations

import asyncio

import pytest

from assistants_core.domain.status import RunStatus
from gpu_worker.main import serve
from infra.aws_resources import ResourceNames
from tests.worker.world import World


def test_serve_with_the_scripted_engine_completes_queued_runs_and_exits_when_idle(
    world: World, aws_resources: ResourceNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANTS_TABLE_NAME", aws_resources.table_name)
    monkeypatch.setenv("ASSISTANTS_BUCKET_NAME", aws_resources.bucket_name)
    monkeypatch.setenv("ASSISTANTS_RUN_QUEUE_URL", aws_resources.run_queue_url)
    monkeypatch.setenv("ASSISTANTS_MODEL_PATH", "unused-by-the-scripted-engine")
    monkeypatch.setenv("ASSISTANTS_IDLE_EXIT_SECONDS", "0")
    monkeypatch.setenv("ASSISTANTS_RECEIVE_WAIT_SECONDS", "0")
    threads = [world.thread_with_messages(f"hello {index}") for index in range(3)]
    runs = [world.new_run(thread) for thread in threads]

    asyncio.run(serve("scripted"))

    assert [world.stored(run).status for run in runs] == [RunStatus.COMPLETED] * 3
    assert world.stored(runs[0]).lease_owner.startswith("local-")  # type: ignore[union-attr]
    assert all(len(world.assistant_messages(thread)) == 1 for thread in threads)
