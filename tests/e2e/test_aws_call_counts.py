"""How many DynamoDB / S3 / SQS calls each endpoint makes, counted with ``infra.aws_call_counter`` on the
running API's own clients. ``pytest -s`` prints the table; the test asserts upper bounds only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import OpenAI

from infra.aws_call_counter import AwsCallCounter, per_service
from tests.e2e.conftest import LocalStackHandle

# Requests an API instance counts in one write at the default request quota (ASSISTANTS_TENANT_REQUEST_BLOCK).
REQUEST_BLOCK = 10

pytestmark = pytest.mark.e2e


@pytest.fixture
def counter(local_stack: LocalStackHandle) -> Iterator[AwsCallCounter]:
    recorder = AwsCallCounter(local_stack.clients)
    yield recorder
    recorder.close()


def test_aws_calls_per_endpoint(local_stack: LocalStackHandle, counter: AwsCallCounter) -> None:
    client = OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)
    beta = client.beta
    table: list[tuple[str, Counter[str]]] = []

    def measure(label: str, action: Callable[[], Any]) -> Any:
        result, calls = counter.measure(action)
        table.append((label, calls))
        return result

    assistant = measure("POST /assistants", lambda: beta.assistants.create(model="m"))
    measure("GET /assistants/{id}", lambda: beta.assistants.retrieve(assistant.id))
    measure("POST /assistants/{id}", lambda: beta.assistants.update(assistant.id, name="n"))
    measure("GET /assistants", lambda: beta.assistants.list(limit=5))
    thread = measure(
        "POST /threads (1 message)", lambda: beta.threads.create(messages=[{"role": "user", "content": "a"}])
    )
    measure("GET /threads/{id}", lambda: beta.threads.retrieve(thread.id))
    measure("POST /threads/{id}", lambda: beta.threads.update(thread.id, metadata={"a": "b"}))
    message = measure(
        "POST /threads/{id}/messages",
        lambda: beta.threads.messages.create(thread.id, role="user", content="b"),
    )
    measure(
        "POST /threads/{id}/messages (large, S3)",
        lambda: beta.threads.messages.create(thread.id, role="user", content="x" * 70_000),
    )
    measure("GET /threads/{id}/messages", lambda: beta.threads.messages.list(thread.id, limit=2))
    measure(
        "GET /threads/{id}/messages/{id}",
        lambda: beta.threads.messages.retrieve(message.id, thread_id=thread.id),
    )
    measure(
        "POST /threads/{id}/messages/{id}",
        lambda: beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"k": "v"}),
    )
    run = measure(
        "POST /threads/{id}/runs",
        lambda: beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id),
    )
    measure("GET /threads/{id}/runs/{id}", lambda: beta.threads.runs.retrieve(run.id, thread_id=thread.id))
    measure("GET /threads/{id}/runs", lambda: beta.threads.runs.list(thread.id))
    measure(
        "POST /threads/{id}/runs/{id}",
        lambda: beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"k": "v"}),
    )
    measure(
        "GET /threads/{id}/runs/{id}/steps", lambda: beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    )
    measure(
        "POST .../runs/{id}/cancel (queued)", lambda: beta.threads.runs.cancel(run.id, thread_id=thread.id)
    )
    measure(
        "POST /threads/runs",
        lambda: beta.threads.create_and_run(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "c"}]}
        ),
    )
    measure(
        "DELETE /threads/{id}/messages/{id}",
        lambda: beta.threads.messages.delete(message.id, thread_id=thread.id),
    )
    measure("DELETE /threads/{id}", lambda: beta.threads.delete(thread.id))
    measure("DELETE /assistants/{id}", lambda: beta.assistants.delete(assistant.id))

    print("\nAWS calls per endpoint (DynamoDB / S3 / SQS)")
    print(f"{'endpoint':44} {'ddb':>4} {'s3':>4} {'sqs':>4}  operations")
    for label, calls in table:
        operations = ", ".join(f"{name.split('.', 1)[1]}x{count}" for name, count in sorted(calls.items()))
        print(
            f"{label:44} {per_service(calls, 'dynamodb'):>4} {per_service(calls, 's3'):>4} "
            f"{per_service(calls, 'sqs'):>4}  {operations}"
        )

    counts = dict(table)
    # Every authenticated request is counted in its tenant's request window, one UpdateItem per block of
    # requests the API instance takes (services/quotas.py: 10 at the default limit); a run create takes its
    # active-run slot inside its own transaction (no request of its own).
    # Reads write nothing of their own, so their UpdateItems are the window's blocks.
    reads = [calls for label, calls in table if label.startswith("GET")]
    assert sum(calls["dynamodb.UpdateItem"] for calls in reads) <= len(reads) // REQUEST_BLOCK + 1
    assert counts["POST /threads/{id}/messages"] in (
        Counter({"dynamodb.TransactWriteItems": 1}),
        Counter({"dynamodb.TransactWriteItems": 1, "dynamodb.UpdateItem": 1}),  # + a block of the window
    )
    assert per_service(counts["POST /threads/{id}/messages (large, S3)"], "s3") == 1
    create_run = counts["POST /threads/{id}/runs"]
    # The run's transaction only: a run nobody streams has no event log (a streamed one adds one PutItem).
    assert create_run["dynamodb.TransactWriteItems"] == 1
    assert create_run["sqs.SendMessage"] == 1
    assert create_run["dynamodb.UpdateItem"] in (0, 1)  # a block of the window, at times
    assert per_service(create_run, "dynamodb") <= 3  # the assistant read + the transaction (+ a block)
    assert counts["POST /threads/runs"]["dynamodb.TransactWriteItems"] == 1
    assert counts["POST /threads/runs"]["sqs.SendMessage"] == 1
    for label, calls in table:
        assert "dynamodb.Scan" not in calls, label
        if label.startswith("GET"):
            # A read is a GetItem or a few Query pages (the adapter pages while filtering), never a scan.
            assert per_service(calls, "dynamodb") <= 6, label  # + the request window
            assert per_service(calls, "sqs") == 0, label
