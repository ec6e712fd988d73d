"""The real adapters (and the API over them) against what DynamoDB itself does and moto does not show
(issue 9): injected TransactionConflictException and the other documented error codes, crossed list cursors,
the 400 KB item limit counted in bytes with byte-heavy non-ASCII input, and a backend that does not answer.
``dynamodb_rules`` enforces DynamoDB's rules on the client and injects its errors through botocore hooks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import hash_api_key
from api.deps import build_dependencies
from assistants_core.adapters.aws import AwsClients, make_aws_clients, worst_case_call_seconds
from assistants_core.adapters.dynamodb import DynamoRunRepository, DynamoTable
from assistants_core.adapters.dynamodb.table import WRITE_CONFLICT_ATTEMPTS
from assistants_core.settings import ApiSettings, AwsSettings
from infra.aws_resources import ResourceNames
from tests.contract.dynamodb_rules import DynamoDbRules, answer_read_with_error, inject_error, raise_on_send

KEY = "sk-storage-rules-0123456789abcdefghijklmnopqrstuvwxyz"
API_GATEWAY_TIMEOUT_SECONDS = 29
EMOJI = "\U0001f600"  # 4 bytes of UTF-8, 12 as escaped JSON
EURO = "\u20ac"  # 3 bytes of UTF-8, 6 as escaped JSON


@dataclass
class RulesHarness:
    client: TestClient
    rules: DynamoDbRules
    clients: AwsClients
    resources: ResourceNames

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/v1{path}", json=body)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/v1{path}", params=params)

    def items(self) -> int:
        scan = self.clients.dynamodb.scan(TableName=self.resources.table_name, Select="COUNT")
        return int(scan["Count"])


@pytest.fixture
def harness(aws_clients: AwsClients, aws_resources: ResourceNames) -> Iterator[RulesHarness]:
    settings = ApiSettings(
        table_name=aws_resources.table_name,
        bucket_name=aws_resources.bucket_name,
        run_queue_url=aws_resources.run_queue_url,
        api_key_hashes=f"{hash_api_key(KEY)}:tenant",
        # The quotas' counter writes would be counted by the injected errors below.
        tenant_requests_per_minute=0,
        tenant_max_active_runs=0,
        tenant_max_open_streams=0,
    )
    rules = DynamoDbRules().install(aws_clients.dynamodb)
    app = create_app(build_dependencies(settings, clients=aws_clients))
    headers = {"Authorization": f"Bearer {KEY}"}
    with TestClient(app, headers=headers, raise_server_exceptions=False) as client:
        yield RulesHarness(client, rules, aws_clients, aws_resources)


def assert_error(response: Any, status: int, error_type: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert error["type"] == error_type, error
    if param is not None:
        assert error["param"] == param, error


# -- TransactionConflictException and the other documented codes ------------------------------------------


def queued_run(harness: RulesHarness) -> tuple[str, str]:
    assistant = harness.post("/assistants", {"model": "m"}).json()
    run = harness.post("/threads/runs", {"assistant_id": assistant["id"]}).json()
    return run["thread_id"], run["id"]


@pytest.mark.parametrize("claimed", [False, True])
def test_a_cancel_racing_a_transaction_is_retried(
    harness: RulesHarness, dynamo_table: DynamoTable, claimed: bool
) -> None:
    """A queued run is cancelled in a transaction (cancelled as a whole for TransactionConflict); a claimed
    one moves to ``cancelling`` with a single UpdateItem (TransactionConflictException), e.g. racing the
    worker's final transaction."""
    thread_id, run_id = queued_run(harness)
    if claimed:
        DynamoRunRepository(dynamo_table).claim_run(
            thread_id, run_id, worker_id="worker", lease_seconds=60, now=time.time()
        )
        injected = inject_error(
            harness.clients.dynamodb, "UpdateItem", "TransactionConflictException", times=2
        )
    else:
        reasons = [{"Code": "TransactionConflict"}, {"Code": "None"}]
        injected = inject_error(
            harness.clients.dynamodb,
            "TransactWriteItems",
            "TransactionCanceledException",
            times=2,
            CancellationReasons=reasons,
        )
    response = harness.post(f"/threads/{thread_id}/runs/{run_id}/cancel", None)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["status"] == ("cancelling" if claimed else "cancelled")
    assert injected.answered == 2 and injected.seen == 3


def test_a_write_that_keeps_conflicting_is_a_409(harness: RulesHarness) -> None:
    thread_id, run_id = queued_run(harness)
    for operation in ("UpdateItem", "TransactWriteItems", "PutItem"):
        inject_error(harness.clients.dynamodb, operation, "TransactionConflictException")
    response = harness.post(f"/threads/{thread_id}/runs/{run_id}/cancel", None)
    assert_error(response, 409, "conflict_error")
    assert harness.get(f"/threads/{thread_id}/runs/{run_id}").json()["status"] == "queued"


def test_conflict_retries_are_bounded(dynamo_table: DynamoTable, aws_clients: AwsClients) -> None:
    injected = inject_error(aws_clients.dynamodb, "PutItem", "TransactionConflictException")
    from assistants_core.adapters.dynamodb.table import Expression, absent_condition
    from assistants_core.domain.errors import ConflictError

    expression = Expression()
    with pytest.raises(ConflictError):
        dynamo_table.put({"PK": "X", "SK": "Y"}, expression, absent_condition(expression))
    assert injected.seen == WRITE_CONFLICT_ATTEMPTS


@pytest.mark.parametrize(
    ("code", "extra", "status", "error_type"),
    [
        ("TransactionInProgressException", {}, 409, "conflict_error"),
        ("ItemCollectionSizeLimitExceededException", {}, 400, "invalid_request_error"),
        (
            "ValidationException",
            {"message": "Item size has exceeded the maximum allowed size"},
            400,
            "invalid_request_error",
        ),
        ("ValidationException", {"message": "Invalid UpdateExpression: bug"}, 500, "server_error"),
        (
            "TransactionCanceledException",
            {"CancellationReasons": [{"Code": "ValidationError"}]},
            400,
            "invalid_request_error",
        ),
        (
            "TransactionCanceledException",
            {"CancellationReasons": [{"Code": "ThrottlingError"}]},
            429,
            "rate_limit_exceeded",
        ),
        (
            "TransactionCanceledException",
            {"CancellationReasons": [{"Code": "ItemCollectionSizeLimitExceeded"}]},
            400,
            "invalid_request_error",
        ),
        ("RequestLimitExceeded", {}, 429, "rate_limit_exceeded"),
        ("InternalServerError", {}, 500, "server_error"),
        ("ResourceNotFoundException", {}, 500, "server_error"),
    ],
)
def test_each_documented_write_error_has_a_deliberate_answer(
    harness: RulesHarness, code: str, extra: dict[str, Any], status: int, error_type: str
) -> None:
    before = harness.items()
    for operation in ("PutItem", "TransactWriteItems"):
        inject_error(harness.clients.dynamodb, operation, code, **extra)
    assert_error(
        harness.post("/threads", {"messages": [{"role": "user", "content": "hi"}]}), status, error_type
    )
    assert harness.items() == before


def test_query_throttling_after_retries_is_a_429(harness: RulesHarness) -> None:
    injected = answer_read_with_error(
        harness.clients.dynamodb, "Query", "ProvisionedThroughputExceededException"
    )
    assert_error(harness.get("/assistants"), 429, "rate_limit_exceeded")
    assert injected.seen == harness.clients.dynamodb.meta.config.retries["total_max_attempts"]


# -- crossed cursors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "after", "before"),
    [("asc", "msg_zzzz", "msg_0000"), ("desc", "msg_0000", "msg_zzzz"), ("asc", "msg_5", "msg_5")],
)
def test_crossed_cursors_never_send_a_crossed_between(
    harness: RulesHarness, order: str, after: str, before: str
) -> None:
    thread = harness.post("/threads", {"messages": [{"role": "user", "content": "hi"}]}).json()
    response = harness.get(f"/threads/{thread['id']}/messages", order=order, after=after, before=before)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["data"] == []
    assert harness.rules.violations == []


def test_the_table_never_queries_crossed_bounds(dynamo_table: DynamoTable, aws_clients: AwsClients) -> None:
    rules = DynamoDbRules().install(aws_clients.dynamodb)
    for lower, upper in (("MSG#b", "MSG#a"), ("MSG#a", "MSG#a"), ("MSG#\u00ff", None)):
        found = dynamo_table.query(
            partition=("PK", "THREAD#t"), sort_attribute="SK", prefix="MSG#", lower=lower, upper=upper
        )
        assert found == []
    assert rules.violations == []


def test_ids_too_long_for_a_key_are_a_404_without_a_request(harness: RulesHarness) -> None:
    long_thread = "thread_" + "a" * 3_000
    for path in (
        f"/threads/{long_thread}",
        f"/threads/{long_thread}/messages",
        f"/assistants/asst_{'b' * 2_000}",
    ):
        assert_error(harness.get(path), 404, "not_found_error")
    assert harness.rules.violations == []


# -- 400 KB items, counted in bytes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"instructions": EMOJI * 256_000}, "instructions"),  # 1 MB of UTF-8
        ({"instructions": EURO * 100_000}, "instructions"),  # 300 KB UTF-8, 600 KB escaped
        ({"instructions": '"' * 200_000}, "instructions"),  # JSON escaping doubles it
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": f"f{index}", "description": EURO * 1_000}}
                    for index in range(128)
                ]
            },
            "tools",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "s", "schema": {"description": EMOJI * 40_000}},
                }
            },
            "response_format",
        ),
    ],
)
def test_byte_heavy_assistants_are_a_400_naming_the_field(
    harness: RulesHarness, body: dict[str, Any], param: str
) -> None:
    before = harness.items()
    assert_error(harness.post("/assistants", {"model": "m", **body}), 400, "invalid_request_error", param)
    assert harness.items() == before
    assert harness.rules.violations == []


def test_the_largest_accepted_assistant_and_run_fit_their_items(harness: RulesHarness) -> None:
    assistant = harness.post(
        "/assistants",
        {
            "model": "m" * 256,
            "name": EMOJI * 256,
            "description": EMOJI * 512,
            "instructions": "a" * 256_000,
            "metadata": {f"{index:02d}" + EMOJI * 62: EMOJI * 512 for index in range(16)},
        },
    )
    assert assistant.status_code == 200, assistant.text[:500]
    thread = harness.post("/threads", {"metadata": {f"{i:02d}" + EMOJI * 62: EMOJI * 512 for i in range(16)}})
    assert thread.status_code == 200, thread.text[:500]
    run = harness.post(
        f"/threads/{thread.json()['id']}/runs",
        {
            "assistant_id": assistant.json()["id"],
            "additional_instructions": "b" * 20_000,
            "metadata": {f"{index:02d}": EURO * 512 for index in range(16)},
        },
    )
    assert run.status_code == 200, run.text[:500]
    assert harness.rules.violations == []
    assert harness.rules.largest_item > 256_000  # the run and its created event really were that large


def test_run_instructions_that_would_overflow_the_run_are_a_400(harness: RulesHarness) -> None:
    assistant = harness.post("/assistants", {"model": "m", "instructions": "a" * 250_000}).json()
    thread = harness.post("/threads", {}).json()
    before = harness.items()
    response = harness.post(
        f"/threads/{thread['id']}/runs",
        {"assistant_id": assistant["id"], "additional_instructions": EURO * 30_000},
    )
    assert_error(response, 400, "invalid_request_error", "instructions")
    assert harness.items() == before
    overriding = harness.post(
        f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"], "instructions": EMOJI * 40_000}
    )
    assert_error(overriding, 400, "invalid_request_error", "instructions")
    assert harness.rules.violations == []


def test_byte_heavy_message_text_goes_to_s3_and_reads_back(harness: RulesHarness) -> None:
    thread = harness.post("/threads", {}).json()
    text = EMOJI * 256_000
    created = harness.post(f"/threads/{thread['id']}/messages", {"role": "user", "content": text})
    assert created.status_code == 200, created.text[:500]
    listed = harness.get(f"/threads/{thread['id']}/messages")
    assert listed.json()["data"][0]["content"][0]["text"]["value"] == text
    assert harness.rules.violations == []


def test_an_oversized_item_is_a_400_even_without_a_field_check(dynamo_table: DynamoTable) -> None:
    from assistants_core.adapters.dynamodb.table import Expression
    from assistants_core.domain.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        dynamo_table.put({"PK": "X", "SK": "Y", "blob": EMOJI * 110_000}, Expression(), "")


# -- a backend that does not answer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_error",
    [
        lambda url: ReadTimeoutError(endpoint_url=url),
        lambda url: ConnectTimeoutError(endpoint_url=url),
        lambda url: EndpointConnectionError(endpoint_url=url),
    ],
)
def test_a_backend_that_does_not_answer_is_a_503_after_the_configured_attempts(
    harness: RulesHarness, make_error: Any
) -> None:
    injected = raise_on_send(harness.clients.dynamodb, "Query", make_error)
    assert_error(harness.get("/assistants"), 503, "server_error")
    assert injected.seen == harness.clients.dynamodb.meta.config.retries["total_max_attempts"]


def test_the_api_answers_a_hung_backend_inside_api_gateways_29_seconds() -> None:
    api = ApiSettings(table_name="t", bucket_name="b", run_queue_url="q", api_key_hashes="x:y")
    worst = worst_case_call_seconds(api)
    assert worst < API_GATEWAY_TIMEOUT_SECONDS * 2 / 3, worst
    clients = make_aws_clients(api)
    for client in (clients.dynamodb, clients.s3, clients.sqs):
        config = client.meta.config
        assert config.connect_timeout == api.aws_connect_timeout_seconds
        assert config.read_timeout == api.aws_read_timeout_seconds  # the API never long-polls SQS
        assert config.retries == {"mode": "standard", "total_max_attempts": api.aws_max_attempts}
    worker = make_aws_clients(AwsSettings(table_name="t", bucket_name="b", run_queue_url="q"))
    assert worker.sqs.meta.config.read_timeout > 20  # covers a 20 s long poll
