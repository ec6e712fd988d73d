"""The sweeper and the dead-letter consumer, through their Lambda handlers and the real repositories."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.domain.errors import StorageError
from assistants_core.domain.files import StoredFile, new_file_id
from assistants_core.domain.status import RunStatus
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.settings import get_sweeper_settings
from dlq import handler as dlq_handler
from gpu_worker.engines.scripted import ScriptedEngine
from infra.aws_resources import ResourceNames
from sweeper import handler as sweeper_handler
from tests.worker.world import World


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "request-1"


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, aws_resources: ResourceNames) -> Iterator[None]:
    monkeypatch.setenv("ASSISTANTS_TABLE_NAME", aws_resources.table_name)
    monkeypatch.setenv("ASSISTANTS_BUCKET_NAME", aws_resources.bucket_name)
    monkeypatch.setenv("ASSISTANTS_RUN_QUEUE_URL", aws_resources.run_queue_url)
    monkeypatch.setenv("ASSISTANTS_REQUEUE_AFTER_SECONDS", "120")
    caches = [
        get_sweeper_settings,
        sweeper_handler.maintenance,
        sweeper_handler.expiry_sweep,
        dlq_handler.maintenance,
    ]
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"message-{index}",
                "receiptHandle": f"receipt-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "5", "SentTimestamp": "1700000000000"},
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:assistants-test-runs-dlq",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def run_body(thread_id: str, run_id: str) -> str:
    return json.dumps({"thread_id": thread_id, "run_id": run_id})


def test_sweeper_requeues_a_queued_run_whose_message_was_lost(world: World, lambda_env: None) -> None:
    thread = world.thread_with_messages("lost message")
    run = world.new_run(thread, enqueue=False, created_at=int(world.clock.now()) - 121)
    fresh = world.new_run(world.thread_with_messages("recent"), enqueue=False)

    report = sweeper_handler.handler({}, LambdaContext())  # type: ignore[arg-type]

    assert report["requeued"] == [run.id]
    assert fresh.id not in report["requeued"]
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())
    assert world.stored(run).status == RunStatus.COMPLETED
    assert len(world.assistant_messages(thread)) == 1
    assert world.stored(fresh).status == RunStatus.QUEUED


def test_sweeper_expires_runs_past_expires_at_and_releases_the_lock(world: World, lambda_env: None) -> None:
    thread = world.thread_with_messages("stale")
    run = world.new_run(thread, enqueue=False, expires_at=int(world.clock.now()) - 1)

    report = sweeper_handler.handler({}, LambdaContext())  # type: ignore[arg-type]

    assert report["expired"] == [run.id]
    assert world.stored(run).status == RunStatus.EXPIRED
    world.new_run(thread, enqueue=False)  # the thread lock is free again
    assert world.runs.list_active_runs() != []


def test_sweeper_finishes_cancelling_runs_whose_worker_died(world: World) -> None:
    from assistants_core.services.maintenance import RunMaintenance

    thread = world.thread_with_messages("cancel me")
    run = world.cancelling_run_of_a_dead_worker(thread)
    maintenance = RunMaintenance(world.runs, world.queue, world.clock, requeue_after_seconds=120)
    assert maintenance.sweep().cancelled == []
    world.clock.advance(60 + 31)
    assert maintenance.sweep().cancelled == [run.id]
    assert world.stored(run).status == RunStatus.CANCELLED
    world.new_run(thread, enqueue=False)


def test_dead_letter_fails_the_run_with_last_error(world: World, lambda_env: None) -> None:
    thread = world.thread_with_messages("doomed")
    run = world.new_run(thread, enqueue=False)
    done = world.new_run(world.thread_with_messages("fine"))
    asyncio.run(world.consumer(ScriptedEngine()).run_until_idle())
    assert world.stored(done).status == RunStatus.COMPLETED
    # `run` was created without a message, so the consumer never saw it; its dead letter arrives now.
    event = sqs_event(run_body(thread.id, run.id), run_body(done.thread_id, done.id), "not json")

    response = dlq_handler.handler(event, LambdaContext())  # type: ignore[arg-type]

    assert response == {"batchItemFailures": []}
    failed = world.stored(run)
    assert failed.status == RunStatus.FAILED
    assert failed.last_error == {"code": "server_error", "message": "The run could not be processed."}
    assert failed.failed_at is not None
    assert world.stored(done).status == RunStatus.COMPLETED  # a finished run is left alone
    world.new_run(thread, enqueue=False)  # lock released


def test_dead_letter_of_a_run_a_live_worker_holds_is_ignored(world: World, lambda_env: None) -> None:
    thread = world.thread_with_messages("busy")
    run = world.new_run(thread, enqueue=False)
    lease_start = world.clock.now()
    assert world.runs.claim_run(thread.id, run.id, worker_id="w", lease_seconds=3600, now=lease_start)

    dlq_handler.handler(sqs_event(run_body(thread.id, run.id)), LambdaContext())  # type: ignore[arg-type]

    assert world.stored(run).status == RunStatus.IN_PROGRESS


def test_dead_letter_storage_error_is_reported_as_a_partial_batch_failure(
    world: World, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok_thread = world.thread_with_messages("a")
    ok_run = world.new_run(ok_thread, enqueue=False)
    bad_thread = world.thread_with_messages("b")
    bad_run = world.new_run(bad_thread, enqueue=False)
    maintenance = dlq_handler.maintenance()
    original = maintenance.fail_dead_letter

    def flaky(ref: Any) -> bool:
        if ref.run_id == bad_run.id:
            raise StorageError("throttled")
        return original(ref)

    monkeypatch.setattr(maintenance, "fail_dead_letter", flaky)
    event = sqs_event(run_body(ok_thread.id, ok_run.id), run_body(bad_thread.id, bad_run.id))

    response = dlq_handler.handler(event, LambdaContext())  # type: ignore[arg-type]

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert world.stored(ok_run).status == RunStatus.FAILED
    assert world.stored(bad_run).status == RunStatus.QUEUED


def test_a_requeued_run_is_not_sent_again_by_every_sweep(world: World) -> None:
    thread = world.thread_with_messages("backlog")
    run = world.new_run(thread, enqueue=False, created_at=int(world.clock.now()) - 121)
    maintenance = RunMaintenance(world.runs, world.queue, world.clock, requeue_after_seconds=120)
    read_by_a_second_sweeper = world.stored(run)

    assert maintenance.sweep().requeued == [run.id]
    assert not world.runs.mark_requeued(read_by_a_second_sweeper, now=world.clock.now())
    world.clock.advance(60)
    assert maintenance.sweep().requeued == []  # still waiting in the queue: no second message
    world.clock.advance(61)
    assert maintenance.sweep().requeued == [run.id]
    assert world.queue.approximate_depth() == 2


def test_sweeper_deletes_an_expired_file_with_its_body(
    lambda_env: None, aws_clients: AwsClients, aws_resources: ResourceNames, dynamo_table: DynamoTable
) -> None:
    """The Lambda's composition of ``ExpirySweep`` (the expiry rules: tests/contract/test_expiry_sweep.py)."""
    now = int(time.time())
    expired = StoredFile(
        id=new_file_id(now * 1000), owner="tenant-x", created_at=now - 7200, bytes=2, filename="a.txt",
        purpose="assistants", body_key="files/expired", expires_at=now - 3600,
    )  # fmt: skip
    live = replace(expired, id=new_file_id(now * 1000 + 1), body_key="files/live", expires_at=now + 3600)
    files = DynamoFileRepository(dynamo_table)
    for file in (expired, live):
        files.put_file(file)
        aws_clients.s3.put_object(Bucket=aws_resources.bucket_name, Key=file.body_key, Body=b"hi")

    report = sweeper_handler.handler({}, LambdaContext())  # type: ignore[arg-type]

    assert report["deleted_files"] == [expired.id] and report["deleted_vector_stores"] == []
    listed = aws_clients.s3.list_objects_v2(Bucket=aws_resources.bucket_name)
    assert [item["Key"] for item in listed["Contents"]] == ["files/live"]
    assert files.get_file("tenant-x", live.id) == live
