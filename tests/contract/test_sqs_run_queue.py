from __future__ import annotations

import json

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.ports import RunRef
from infra.aws_resources import ResourceNames


def queue_counts(aws_clients: AwsClients, queue_url: str) -> tuple[int, int]:
    attributes = aws_clients.sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_send_receive_delete(
    run_queue: SqsRunQueue, aws_clients: AwsClients, aws_resources: ResourceNames
) -> None:
    refs = [RunRef(thread_id=f"thread_{i}", run_id=f"run_{i}") for i in range(3)]
    for ref in refs:
        run_queue.enqueue_run(ref)
    assert run_queue.approximate_depth() == 3

    raw = aws_clients.sqs.receive_message(QueueUrl=aws_resources.run_queue_url, MaxNumberOfMessages=1)
    assert json.loads(raw["Messages"][0]["Body"]) == {"thread_id": "thread_0", "run_id": "run_0"}
    aws_clients.sqs.change_message_visibility(
        QueueUrl=aws_resources.run_queue_url,
        ReceiptHandle=raw["Messages"][0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )

    received = run_queue.receive_runs(max_messages=50, wait_seconds=0)
    assert sorted(item.ref.run_id for item in received) == ["run_0", "run_1", "run_2"]
    counts = {item.ref.run_id: item.receive_count for item in received}
    assert counts == {"run_0": 2, "run_1": 1, "run_2": 1}
    assert run_queue.approximate_depth() == 0

    for item in received:
        run_queue.delete_run_message(item.receipt_handle)
    assert queue_counts(aws_clients, aws_resources.run_queue_url) == (0, 0)


def test_extend_visibility_hides_and_zero_returns_the_message(run_queue: SqsRunQueue) -> None:
    run_queue.enqueue_run(RunRef(thread_id="thread_1", run_id="run_1"))
    [first] = run_queue.receive_runs(max_messages=10, wait_seconds=0)
    run_queue.extend_visibility(first.receipt_handle, 600)
    assert run_queue.receive_runs(max_messages=10, wait_seconds=0) == []

    run_queue.extend_visibility(first.receipt_handle, 0)
    [again] = run_queue.receive_runs(max_messages=10, wait_seconds=0)
    assert (again.ref, again.receive_count) == (first.ref, 2)


def test_malformed_messages_are_deleted_not_returned(
    run_queue: SqsRunQueue, aws_clients: AwsClients, aws_resources: ResourceNames
) -> None:
    for body in (
        "not json",
        "[1, 2]",
        json.dumps({"thread_id": "t"}),
        json.dumps({"thread_id": 1, "run_id": "r"}),
    ):
        aws_clients.sqs.send_message(QueueUrl=aws_resources.run_queue_url, MessageBody=body)
    run_queue.enqueue_run(RunRef(thread_id="thread_ok", run_id="run_ok"))

    received: list[str] = []
    for _ in range(3):
        received += [item.ref.run_id for item in run_queue.receive_runs(max_messages=10, wait_seconds=0)]
    assert received == ["run_ok"]
    assert queue_counts(aws_clients, aws_resources.run_queue_url) == (0, 1)  # only the valid one is in flight


def test_delayed_message_is_not_visible_yet(run_queue: SqsRunQueue) -> None:
    run_queue.enqueue_run(RunRef(thread_id="thread_1", run_id="run_1"), delay_seconds=600)
    assert run_queue.receive_runs(max_messages=1, wait_seconds=0) == []


def test_message_received_too_often_moves_to_the_dead_letter_queue(
    run_queue: SqsRunQueue, aws_clients: AwsClients, aws_resources: ResourceNames
) -> None:
    run_queue.enqueue_run(RunRef(thread_id="thread_1", run_id="run_1"))
    counts = []
    for _ in range(6):
        for item in run_queue.receive_runs(max_messages=1, wait_seconds=0):
            counts.append(item.receive_count)
            run_queue.extend_visibility(item.receipt_handle, 0)
    assert counts == [1, 2, 3, 4, 5]
    dead = SqsRunQueue(aws_clients.sqs, aws_resources.dead_letter_queue_url)
    [dead_letter] = dead.receive_runs(max_messages=10, wait_seconds=0)
    assert dead_letter.ref == RunRef(thread_id="thread_1", run_id="run_1")
