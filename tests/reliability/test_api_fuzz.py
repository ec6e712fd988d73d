"""Fuzz: schemathesis generates requests for every operation of the API's own OpenAPI document
(``/v1/openapi.json``) and sends them to the real app in-process (ASGI), authenticated with the local stack's
dev key, over moto. No request may end in a 5xx, and every error answer must be OpenAI's envelope
``{"error": {"message", "type", "param", "code"}}``.

Streamed runs (``stream: true``) are followed for at most ``STREAM_SECONDS`` (nothing consumes the queue
here, so a run never ends by itself)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation

from api.app import create_app
from api.auth import hash_api_key
from api.deps import build_dependencies
from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoRunRepository, DynamoTable
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.services.run_stream import RunStreamService
from assistants_core.settings import ApiSettings
from infra.aws_resources import ResourceNames
from infra.local_env import DEFAULT_DEV_KEY

STREAM_SECONDS = 0.3
EXAMPLES_PER_OPERATION = 8  # per operation and generation mode (valid / invalid requests)
ERROR_FIELDS = {"message", "type", "param", "code"}
AUTHORIZATION = {"Authorization": f"Bearer {DEFAULT_DEV_KEY}"}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def fuzzed_app(aws_clients: AwsClients, aws_resources: ResourceNames) -> FastAPI:
    settings = ApiSettings(
        table_name=aws_resources.table_name,
        bucket_name=aws_resources.bucket_name,
        run_queue_url=aws_resources.run_queue_url,
        api_key_hashes=f"{hash_api_key(DEFAULT_DEV_KEY)}:local",
        allow_weak_api_keys=True,  # sk-local-dev, as the local stack
    )
    dependencies = build_dependencies(settings, clients=aws_clients)
    table = DynamoTable(
        aws_clients.dynamodb, settings.table_name, S3BodyStore(aws_clients.s3, settings.bucket_name)
    )
    short_streams = RunStreamService(
        dependencies.runs,
        DynamoRunRepository(table),
        DynamoRunEventLog(table),
        max_stream_seconds=STREAM_SECONDS,
    )
    return create_app(replace(dependencies, run_stream=short_streams))


def assert_openai_error(body: Any) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == ERROR_FIELDS, body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["type"], str) and error["type"], body
    assert error["param"] is None or isinstance(error["param"], str), body
    assert error["code"] is None or isinstance(error["code"], str), body


def check_answer(case: Case) -> None:
    response = case.call(headers=AUTHORIZATION)
    reproduce = case.as_curl_command(headers=AUTHORIZATION)
    assert response.status_code < 500, f"{response.status_code} {response.text}\n{reproduce}"
    documented = case.operation.definition.raw["responses"]
    assert str(response.status_code) in documented, f"undocumented {response.status_code}\n{reproduce}"
    if response.status_code >= 400:
        assert_openai_error(response.json())


def seed_objects(app: FastAPI) -> dict[str, str]:
    """An assistant, a thread with a message and a queued run (which locks it): ids the fuzzer can aim at,
    so that requests get past "not found" into the handlers."""
    with TestClient(app, headers=AUTHORIZATION) as client:
        assistant = client.post("/v1/assistants", json={"model": "fuzz"}).json()
        thread = client.post("/v1/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()
        message = client.get(f"/v1/threads/{thread['id']}/messages").json()["data"][0]
        run = client.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}).json()
    return {
        "assistant_id": assistant["id"],
        "thread_id": thread["id"],
        "message_id": message["id"],
        "run_id": run["id"],
    }


def aimed(case: Case, known_ids: dict[str, str]) -> Case:
    """The case with every id it names (path, body ``assistant_id``) replaced by an existing object's."""
    for name in case.path_parameters:
        if name in known_ids:
            case.path_parameters[name] = known_ids[name]
    if isinstance(case.body, dict) and "assistant_id" in case.body:
        case.body["assistant_id"] = known_ids["assistant_id"]
    return case


def fuzz(operation: APIOperation, mode: GenerationMode, known_ids: dict[str, str]) -> None:
    cases = operation.as_strategy(generation_mode=mode)

    @FUZZ_SETTINGS
    @given(case=cases, aim=st.booleans())
    def answers_well(case: Case, aim: bool) -> None:
        check_answer(aimed(case, known_ids) if aim else case)

    answers_well()


def test_api_never_fails_and_every_error_is_openai_shaped(fuzzed_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", fuzzed_app)
    # Deletions last, so the objects the other operations aim at still exist while they run.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: operation.method == "delete",
    )
    assert len(operations) >= 20, "the document lists every route"
    known_ids = seed_objects(fuzzed_app)
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, known_ids)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing in this operation can be made invalid
            except AssertionError as failure:
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)


# -- poisoned input: what must be a 400 at write time, never a stored object that breaks reads ---------------
# (issue 10) Values the JSON grammar or DynamoDB cannot hold, placed where requests store them. Sent as raw
# JSON text (json.dumps escapes a lone surrogate as "\udfff" and writes NaN / Infinity literals), so the
# API parses exactly what a hostile client sends.

POISON_EXAMPLES = 80
MAX_BYTE_HEAVY_CHARS = 140_000


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = {"x": value} if level % 2 else [value]
    return value


def with_lone_surrogate(text: str, surrogate: str, position: int) -> str:
    cut = position % (len(text) + 1)
    return text[:cut] + surrogate + text[cut:]


deep_nesting = st.builds(nested, st.integers(min_value=20, max_value=400), st.just("leaf"))
lone_surrogates = st.builds(
    with_lone_surrogate,
    st.text(max_size=20),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.integers(min_value=0, max_value=20),
)
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
huge_integers = st.integers(min_value=10**36, max_value=10**120).flatmap(
    lambda magnitude: st.sampled_from([magnitude, -magnitude])
)
extreme_floats = st.sampled_from([1e-200, -1e-131, 1e126, 1.7976931348623157e308])
byte_heavy = st.builds(
    lambda character, count: character * count,
    st.sampled_from(["\u00e9", "\u20ac", "\U0001f600", '"', "\\", "\x01"]),
    st.integers(min_value=1, max_value=MAX_BYTE_HEAVY_CHARS),
)
POISONS = st.one_of(deep_nesting, lone_surrogates, non_finite, huge_integers, extreme_floats, byte_heavy)


def function_with(value: Any) -> dict[str, Any]:
    parameters = {"type": "object", "properties": {"x": value}}
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


# (path, body with the poison in it); ``{open_thread_id}`` (a thread without an active run) and
# ``{assistant_id}`` name seeded objects.
PLACEMENTS: list[tuple[str, Any]] = [
    ("/v1/assistants", lambda poison: {"model": "m", "instructions": poison}),
    ("/v1/assistants", lambda poison: {"model": "m", "name": poison}),
    ("/v1/assistants", lambda poison: {"model": "m", "metadata": {"k": poison}}),
    ("/v1/assistants", lambda poison: {"model": "m", "tools": [function_with(poison)]}),
    ("/v1/assistants", lambda poison: {"model": "m", "temperature": poison}),
    ("/v1/assistants", lambda poison: {"model": "m", "top_p": poison}),
    (
        "/v1/assistants",
        lambda poison: {
            "model": "m",
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"x": poison}}},
        },
    ),
    ("/v1/threads", lambda poison: {"metadata": {"k": poison}}),
    ("/v1/threads/{open_thread_id}/messages", lambda poison: {"role": "user", "content": poison}),
    (
        "/v1/threads/{open_thread_id}/messages",
        lambda poison: {"role": "user", "content": [{"type": "text", "text": poison}]},
    ),
    (
        "/v1/threads/{open_thread_id}/messages",
        lambda poison: {"role": "user", "content": [{"type": "image_url", "image_url": {"url": poison}}]},
    ),
    (
        "/v1/threads/{open_thread_id}/messages",
        lambda poison: {"role": "user", "content": "hi", "metadata": {"k": poison}},
    ),
    (
        "/v1/threads/runs",
        lambda poison: {"assistant_id": "{assistant_id}", "instructions": poison, "max_prompt_tokens": 256},
    ),
    ("/v1/threads/runs", lambda poison: {"assistant_id": "{assistant_id}", "max_completion_tokens": poison}),
]


def poisoned_body(build: Any, poison: Any, known_ids: dict[str, str]) -> bytes:
    body = build(poison)
    if body.get("assistant_id") == "{assistant_id}":
        body["assistant_id"] = known_ids["assistant_id"]
    return json.dumps(body, allow_nan=True).encode()  # ensure_ascii: a lone surrogate travels as "\udfff"


def assert_reads_still_work(client: TestClient, known_ids: dict[str, str], created: Any) -> None:
    thread_id = known_ids["open_thread_id"]
    for path in ("/v1/assistants", f"/v1/threads/{thread_id}/messages", f"/v1/threads/{thread_id}/runs"):
        listed = client.get(path, params={"limit": 100})
        assert listed.status_code == 200, f"GET {path} -> {listed.status_code} {listed.text[:300]}"
    if isinstance(created, dict) and created.get("object") == "thread.run":
        runs = client.get(f"/v1/threads/{created['thread_id']}/runs")
        assert runs.status_code == 200, runs.text[:300]


def test_poisoned_input_is_refused_at_write_time_and_reads_keep_working(
    fuzzed_app: FastAPI, aws_clients: AwsClients, aws_resources: ResourceNames
) -> None:
    known_ids = seed_objects(fuzzed_app)

    def item_count() -> int:
        return int(aws_clients.dynamodb.scan(TableName=aws_resources.table_name, Select="COUNT")["Count"])

    with TestClient(fuzzed_app, headers=AUTHORIZATION, raise_server_exceptions=False) as client:
        known_ids["open_thread_id"] = client.post("/v1/threads", json={}).json()["id"]

        @settings(
            max_examples=POISON_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(placement=st.sampled_from(PLACEMENTS), poison=POISONS)
        def refused_or_readable(placement: tuple[str, Any], poison: Any) -> None:
            path, build = placement
            before = item_count()
            response = client.post(
                path.format(**known_ids),
                content=poisoned_body(build, poison, known_ids),
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code < 500, f"{path}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                assert_openai_error(response.json())
                assert item_count() == before, f"{path}: a refused request stored something"
            assert_reads_still_work(client, known_ids, response.json())

        refused_or_readable()
