"""Through the API: steps, the run and its messages read the same whether the worker stored the plain reply
step or left it to be derived (``domain.reply_steps``), for every way a run ends (completed, incomplete,
failed with and without a reply, cancelled, a reply after tool turns)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.domain.reply_steps import plain_reply_step_id
from tests.contract.reply_scenarios import PLAIN_REPLY, SCENARIOS, finish_scenario, new_run_id
from tests.unit.api.conftest import ApiHarness


def _table(api: ApiHarness) -> DynamoTable:
    store = S3BodyStore(api.clients.s3, api.resources.bucket_name)
    return DynamoTable(api.clients.dynamodb, api.resources.table_name, store)


def _read(api: ApiHarness, thread_id: str, run_id: str) -> dict[str, Any]:
    """Everything a client can read about the run, with the thread id masked."""
    run_path = f"/threads/{thread_id}/runs/{run_id}"
    answers: dict[str, Any] = {"run": api.get(run_path).json()}
    for order in ("asc", "desc"):
        answers[f"steps {order}"] = api.get(f"{run_path}/steps?order={order}").json()
    answers["pages"] = [api.get(f"{run_path}/steps?limit=1&order=asc").json()]
    while answers["pages"][-1]["has_more"]:
        last = answers["pages"][-1]["last_id"]
        answers["pages"].append(api.get(f"{run_path}/steps?limit=1&order=asc&after={last}").json())
    answers["retrieved"] = [
        api.get(f"{run_path}/steps/{step['id']}").json() for step in answers["steps asc"]["data"]
    ]
    answers["replies"] = api.get(f"/threads/{thread_id}/messages?run_id={run_id}").json()
    masked: dict[str, Any] = json.loads(json.dumps(answers).replace(thread_id, "thread_x"))
    return masked


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_api_answers_the_same_for_a_stored_and_a_derived_reply_step(
    api: ApiHarness, scenario: str
) -> None:
    run_id, at = new_run_id(), float(int(time.time()))
    stored = finish_scenario(_table(api), scenario, run_id, at, derive=False)
    derived = finish_scenario(_table(api), scenario, run_id, at, derive=True)

    expected = _read(api, stored.thread.id, run_id)
    assert _read(api, derived.thread.id, run_id) == expected
    listed = [step["id"] for step in expected["steps asc"]["data"]]
    if scenario in PLAIN_REPLY:  # the plain reply step, derived in the second thread
        assert listed == [plain_reply_step_id(run_id)]
    else:
        assert plain_reply_step_id(run_id) not in listed
    missing = api.get(f"/threads/{derived.thread.id}/runs/{run_id}/steps/step_{run_id[4:]}x")
    assert missing.status_code == 404
