"""The plain reply step derived from its run (``domain.reply_steps``) reads exactly as the stored step did:
each way a run ends, and pages among stored steps, the same run finished in two threads compared."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import pytest

from assistants_core.adapters.dynamodb import DynamoRunRepository, DynamoTable, DynamoThreadRepository
from assistants_core.adapters.dynamodb.items import steps_prefix, thread_pk
from assistants_core.domain import ids
from assistants_core.domain.errors import NotFoundError
from assistants_core.domain.models import PageRequest, RunStep
from assistants_core.domain.reply_steps import plain_reply_step_id
from assistants_core.domain.status import RunStatus
from gpu_worker.outcomes import Generation, generation_outcome
from tests.contract.factories import OTHER_OWNER, OWNER, make_message, make_run, make_thread
from tests.contract.pagination import assert_paginates
from tests.contract.reply_scenarios import PLAIN_REPLY, SCENARIOS, Finished, finish_scenario, new_run_id


def _as_in(steps: list[RunStep], thread_id: str) -> list[RunStep]:
    return [replace(step, thread_id=thread_id) for step in steps]


def _stored_step(table: DynamoTable, finished: Finished, step_id: str) -> object:
    return table.get(thread_pk(finished.thread.id), steps_prefix(finished.run.id) + step_id)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_steps_read_the_same_whether_the_reply_step_is_stored_or_derived(
    dynamo_table: DynamoTable, scenario: str
) -> None:
    run_id, at = new_run_id(), float(int(time.time()))
    stored = finish_scenario(dynamo_table, scenario, run_id, at, derive=False)
    derived = finish_scenario(dynamo_table, scenario, run_id, at, derive=True)
    reader = DynamoRunRepository(dynamo_table, derive_reply_steps=False)  # reads derive whatever the switch

    for order in ("asc", "desc"):
        request = PageRequest(limit=100, order=order)
        expected = reader.list_steps(OWNER, stored.thread.id, run_id, request)
        got = reader.list_steps(OWNER, derived.thread.id, run_id, request)
        assert (_as_in(got.data, stored.thread.id), got.has_more) == (expected.data, expected.has_more)
    steps = expected.data
    for step in steps:
        assert replace(reader.get_step(OWNER, derived.thread.id, run_id, step.id), thread_id="t") == replace(
            step, thread_id="t"
        )
    stored_run = reader.get_run(OWNER, stored.thread.id, run_id)
    derived_run = reader.get_run(OWNER, derived.thread.id, run_id)
    assert replace(derived_run, thread_id="t", reply_step_at=None) == replace(stored_run, thread_id="t")

    plain = plain_reply_step_id(run_id)
    if scenario in PLAIN_REPLY:
        assert plain in [step.id for step in steps]
        assert _stored_step(dynamo_table, stored, plain) is not None
        assert _stored_step(dynamo_table, derived, plain) is None  # derived, not written
        assert derived_run.reply_step_at is not None
        with pytest.raises(NotFoundError):
            reader.get_step(OTHER_OWNER, derived.thread.id, run_id, plain)
    else:
        assert derived_run.reply_step_at is None
        with pytest.raises(NotFoundError):
            reader.get_step(OWNER, derived.thread.id, run_id, plain)


def test_a_derived_step_pages_among_stored_steps(dynamo_table: DynamoTable) -> None:
    """Stored steps sort on both sides of the derived one; every page (limits 1..8, both orders, every
    pair of cursors) is the page of the same steps all stored."""
    earlier = [ids.new_id(ids.STEP) for _ in range(3)]  # made before the run: they sort before its steps
    run_id, at = new_run_id(), float(int(time.time()))
    later = [ids.derived_id(ids.STEP, run_id, f"c{turn:02d}") for turn in range(3)]
    finished = {derive: _finish_with_steps(dynamo_table, run_id, at, earlier + later, derive=derive)
                for derive in (False, True)}  # fmt: skip
    reader = DynamoRunRepository(dynamo_table)
    all_ids = [*earlier, plain_reply_step_id(run_id), *later]
    assert _stored_step(dynamo_table, finished[True], all_ids[3]) is None

    def listing(derive: bool, request: PageRequest) -> tuple[list[RunStep], bool]:
        page = reader.list_steps(OWNER, finished[derive].thread.id, run_id, request)
        return _as_in(page.data, "t"), page.has_more

    assert_paginates(
        lambda request: reader.list_steps(OWNER, finished[True].thread.id, run_id, request), all_ids
    )
    cursors = [None, *all_ids]
    for limit, order, after, before in itertools.product((1, 2, 3, 8), ("asc", "desc"), cursors, cursors):
        request = PageRequest(limit=limit, order=order, after=after, before=before)
        assert listing(True, request) == listing(False, request), request


def _finish_with_steps(
    table: DynamoTable, run_id: str, at: float, other_step_ids: list[str], *, derive: bool
) -> Finished:
    runs = DynamoRunRepository(table, derive_reply_steps=derive)
    thread = make_thread()
    DynamoThreadRepository(table).create_thread(thread, [make_message(thread)])
    run = make_run(thread, id=run_id, created_at=int(at), expires_at=int(at) + 600)
    runs.create_run(run, [])
    claimed = runs.claim_run(thread.id, run_id, worker_id="w", lease_seconds=60, now=at)
    assert claimed is not None
    outcome = generation_outcome(claimed, Generation("answer", 3, 4, "stop"), at + 2, started_at=at + 1)
    (reply_step,) = outcome.steps
    others = [
        replace(
            reply_step, id=step_id, type="tool_calls", step_details={"type": "tool_calls", "tool_calls": []}
        )
        for step_id in other_step_ids
    ]
    runs.finish_run(
        claimed, RunStatus.COMPLETED, fields=outcome.fields, worker_id="w", message=outcome.message,
        steps=[*others, reply_step],
    )  # fmt: skip
    return Finished(thread, claimed)
