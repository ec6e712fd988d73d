"""The worker's batched requests against moto, and the answers moto never gives injected with botocore's
Stubber: ``BatchGetItem`` of run snapshots (strongly consistent, projected, ``UnprocessedKeys`` asked
again), ``DeleteMessageBatch`` with a partially failed batch, and the stream mark that makes an unstreamed
final write fail."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoRunRepository, DynamoTable, DynamoThreadRepository
from assistants_core.adapters.dynamodb.run_status import DynamoRunStatusReader
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.domain.errors import ConflictError
from assistants_core.domain.models import Thread
from assistants_core.domain.status import RunStatus
from assistants_core.ports import RunRef
from tests.contract.factories import make_run, make_thread, now


@pytest.fixture
def thread(thread_repo: DynamoThreadRepository) -> Thread:
    created = make_thread()
    thread_repo.create_thread(created, [])
    return created


def test_snapshots_of_many_runs_in_one_consistent_batch(
    thread_repo: DynamoThreadRepository, run_repo: DynamoRunRepository, dynamo_table: DynamoTable
) -> None:
    keys = []
    for index in range(3):
        thread = make_thread()
        thread_repo.create_thread(thread, [])
        run = make_run(thread, stream_log_seq=2 if index == 1 else None)
        run_repo.create_run(run, [])
        keys.append((thread.id, run.id))
    claimed = run_repo.claim_run(*keys[0], worker_id="w", lease_seconds=60, now=now())
    assert claimed is not None
    snapshots = DynamoRunStatusReader(dynamo_table).read_snapshots([*keys, ("thread_gone", "run_gone")])
    assert set(snapshots) == {run_id for _, run_id in keys}
    first, second, third = (snapshots[run_id] for _, run_id in keys)
    assert (first.status, first.lease_owner, first.stream_log_seq) == (RunStatus.IN_PROGRESS, "w", None)
    assert (second.status, second.stream_log_seq) == (RunStatus.QUEUED, 2)
    assert third.expires_at is not None and third.lease_owner is None


def test_unprocessed_keys_are_asked_again_with_consistent_reads(dynamo_table: DynamoTable) -> None:
    table = dynamo_table.table_name
    item = {"SK": {"S": "RUN#run_a"}, "status": {"S": "cancelling"}, "lease_owner": {"S": "w"}}
    second_key = {"PK": {"S": "THREAD#thread_b"}, "SK": {"S": "RUN#run_b"}}
    with Stubber(dynamo_table.client) as stub:
        expected: dict[str, Any] = {"RequestItems": {table: {"Keys": ANY, "ConsistentRead": True,
                                                               "ProjectionExpression": ANY,
                                                               "ExpressionAttributeNames": ANY}}}  # fmt: skip
        unprocessed = {table: {"Keys": [second_key], "ConsistentRead": True}}
        stub.add_response(
            "batch_get_item", {"Responses": {table: [item]}, "UnprocessedKeys": unprocessed}, expected
        )
        stub.add_response(
            "batch_get_item",
            {"Responses": {table: [{**item, "SK": {"S": "RUN#run_b"}, "status": {"S": "in_progress"}}]}},
            {"RequestItems": unprocessed},
        )
        reader = DynamoRunStatusReader(dynamo_table, sleep=lambda seconds: None)
        snapshots = reader.read_snapshots([("thread_a", "run_a"), ("thread_b", "run_b")])
        stub.assert_no_pending_responses()
    assert snapshots["run_a"].status == RunStatus.CANCELLING
    assert snapshots["run_b"].status == RunStatus.IN_PROGRESS


def test_a_partially_failed_delete_batch_returns_the_failed_handles(
    aws_clients: AwsClients, run_queue: SqsRunQueue
) -> None:
    with Stubber(aws_clients.sqs) as stub:
        stub.add_response(
            "delete_message_batch",
            {
                "Successful": [{"Id": "0"}, {"Id": "2"}],
                "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}],
            },
            {"QueueUrl": ANY, "Entries": [{"Id": str(i), "ReceiptHandle": f"h{i}"} for i in range(3)]},
        )
        assert run_queue.delete_run_messages(["h0", "h1", "h2"]) == ["h1"]


def test_delete_batch_against_moto(run_queue: SqsRunQueue) -> None:
    for index in range(4):
        run_queue.enqueue_run(RunRef(thread_id=f"thread_{index}", run_id=f"run_{index}"))
    received = run_queue.receive_runs(max_messages=10, wait_seconds=0)
    assert run_queue.delete_run_messages([delivery.receipt_handle for delivery in received]) == []
    assert run_queue.approximate_depth() == 0
    assert run_queue.delete_run_messages([]) == []


def test_marking_a_run_streamed_once_and_an_unstreamed_final_write_refused_after(
    thread: Thread, run_repo: DynamoRunRepository
) -> None:
    run = make_run(thread)
    run_repo.create_run(run, [])
    claimed = run_repo.claim_run(thread.id, run.id, worker_id="w", lease_seconds=60, now=now())
    assert claimed is not None and not claimed.streamed
    marked = run_repo.mark_streamed(claimed)
    assert marked is not None and marked.stream_log_seq == 0 and marked.status == RunStatus.IN_PROGRESS
    assert run_repo.mark_streamed(claimed) is None  # once only
    assert run_repo.mark_streamed(make_run(thread)) is None  # no such run: nothing created
    finish = {"fields": {"completed_at": now()}, "worker_id": "w", "message": None, "steps": []}
    with pytest.raises(ConflictError):
        run_repo.finish_run(claimed, RunStatus.COMPLETED, **finish)  # believes nobody streams it
    assert run_repo.finish_run(marked, RunStatus.COMPLETED, **finish).status == RunStatus.COMPLETED
