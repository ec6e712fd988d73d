"""The API half of file_search (issue 13, FILE_SEARCH_CONTRACT.md) through the real app over moto: tools and
content the server does not run are refused where they are declared, ``tool_resources.file_search`` is
validated (and its ``vector_stores`` helper creates a store), message attachments fill the thread's vector
store (idempotent under retries), ``tool_choice`` may name file_search, and run steps return file_search
results without the private ``queries`` and with ``content`` only on ``include[]``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assistants_core.adapters.dynamodb.expressions import Expression
from assistants_core.adapters.dynamodb.items import step_to_item
from assistants_core.domain.models import RunStep
from assistants_core.domain.status import StepStatus
from assistants_core.schemas.step_details import FILE_SEARCH_CONTENT
from assistants_core.services.thread_vector_stores import thread_store_id
from gpu_worker.ingestion.embedders import bundled_minilm_path
from tests.unit.api.conftest import KEY_B, ApiHarness, running_api

CODE = {"type": "code_interpreter"}
SEARCH = {"type": "file_search"}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    """Search configured (an embedding model), as in the local stack."""
    with running_api(monkeypatch, embedding_model_path=str(bundled_minilm_path())) as harness:
        yield harness


def upload(api: ApiHarness, name: str = "facts.txt", *, key: str | None = None) -> str:
    headers = api.headers(key) if key else api.headers()
    response = api.client.post(
        "/v1/files",
        files={"file": (name, b"The sky is blue.")},
        data={"purpose": "assistants"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    file_id: str = response.json()["id"]
    return file_id


def new_store(api: ApiHarness, *, key: str | None = None) -> str:
    response = api.post("/vector_stores", {"name": "docs"}, **({"key": key} if key else {}))
    assert response.status_code == 200, response.text
    store_id: str = response.json()["id"]
    return store_id


def error_of(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    error: dict[str, Any] = response.json()["error"]
    return error


def assistant_id(api: ApiHarness, **fields: Any) -> str:
    response = api.post("/assistants", {"model": "m", **fields})
    assert response.status_code == 200, response.text
    created: str = response.json()["id"]
    return created


def new_thread(api: ApiHarness, **fields: Any) -> dict[str, Any]:
    response = api.post("/threads", fields)
    assert response.status_code == 200, response.text
    thread: dict[str, Any] = response.json()
    return thread


# -- tools the server does not run ---------------------------------------------------------------------------
def test_code_interpreter_is_refused_wherever_it_is_declared_and_nothing_is_written(api: ApiHarness) -> None:
    asst = assistant_id(api)
    thread_id = new_thread(api)["id"]
    before = api.table_item_count()
    attached = {"role": "user", "content": "x", "attachments": [{"file_id": "file-x", "tools": [CODE]}]}
    cases = [
        (api.post("/assistants", {"model": "m", "tools": [SEARCH, CODE]}), "tools[1]"),
        (api.post(f"/assistants/{asst}", {"tools": [CODE]}), "tools[0]"),
        (api.post(f"/threads/{thread_id}/runs", {"assistant_id": asst, "tools": [CODE]}), "tools[0]"),
        (api.post("/threads/runs", {"assistant_id": asst, "tools": [SEARCH, CODE]}), "tools[1]"),
        (api.post(f"/threads/{thread_id}/messages", attached), "attachments[0].tools[0]"),
        (api.post("/threads", {"messages": [attached]}), "messages[0].attachments[0].tools[0]"),
        (
            api.post(f"/threads/{thread_id}/runs", {"assistant_id": asst, "additional_messages": [attached]}),
            "additional_messages[0].attachments[0].tools[0]",
        ),
        (
            api.post("/threads/runs", {"assistant_id": asst, "thread": {"messages": [attached]}}),
            "thread.messages[0].attachments[0].tools[0]",
        ),
    ]
    for response, param in cases:
        error = error_of(response)
        assert (error["type"], error["param"], error["code"]) == (
            "invalid_request_error",
            param,
            "unsupported_tool",
        )
        assert (
            "code_interpreter" in error["message"]
            and "ASSISTANTS_IGNORE_UNSUPPORTED_TOOLS" in error["message"]
        )
    assert api.table_item_count() == before
    assert api.get(f"/assistants/{asst}").json()["tools"] == []


def test_the_deployment_may_opt_into_accepting_unrun_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(monkeypatch, ignore_unsupported_tools=True) as api:
        created = api.post("/assistants", {"model": "m", "tools": [CODE]})
        assert created.status_code == 200, created.text
        assert created.json()["tools"] == [CODE]
        thread_id = new_thread(api)["id"]
        forced = {"assistant_id": created.json()["id"], "tool_choice": CODE}
        error = error_of(api.post(f"/threads/{thread_id}/runs", forced))  # accepted unused, never forced
        assert (error["param"], error["code"]) == ("tool_choice", "unsupported_tool")
        run = api.post(f"/threads/{thread_id}/runs", {"assistant_id": created.json()["id"]})
        assert run.status_code == 200 and run.json()["tools"] == [CODE]


def test_file_search_without_an_embedding_model_is_a_clear_400(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(monkeypatch, ignore_unsupported_tools=True) as api:  # the opt-in covers unrun tools only
        error = error_of(api.post("/assistants", {"model": "m", "tools": [SEARCH]}))
        assert error["param"] == "tools[0]" and "ASSISTANTS_EMBEDDING_MODEL_PATH" in error["message"]
        thread_id = new_thread(api)["id"]
        attached = {"role": "user", "content": "x", "attachments": [{"file_id": "file-x", "tools": [SEARCH]}]}
        error = error_of(api.post(f"/threads/{thread_id}/messages", attached))
        assert error["param"] == "attachments[0].tools[0]"


# -- image content -------------------------------------------------------------------------------------------
IMAGE_URL = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
IMAGE_FILE = {"type": "image_file", "image_file": {"file_id": "file-img"}}


def test_image_parts_are_refused_naming_the_part(api: ApiHarness) -> None:
    asst = assistant_id(api)
    thread_id = new_thread(api)["id"]
    before = api.table_item_count()
    with_image = {"role": "user", "content": [{"type": "text", "text": "see"}, IMAGE_URL]}
    only_image = {"role": "user", "content": [IMAGE_FILE]}
    cases = [
        (api.post(f"/threads/{thread_id}/messages", with_image), "content[1]"),
        (api.post("/threads", {"messages": [with_image, only_image]}), "messages[0].content[1]"),
        (
            api.post(
                f"/threads/{thread_id}/runs", {"assistant_id": asst, "additional_messages": [only_image]}
            ),
            "additional_messages[0].content[0]",
        ),
        (
            api.post("/threads/runs", {"assistant_id": asst, "thread": {"messages": [only_image]}}),
            "thread.messages[0].content[0]",
        ),
    ]
    for response, param in cases:
        error = error_of(response)
        assert (error["param"], error["code"]) == (param, "unsupported_content")
        assert "image" in error["message"]
    assert api.table_item_count() == before


# -- tool_resources.file_search ------------------------------------------------------------------------------
def test_vector_store_ids_must_name_stores_of_the_same_tenant(api: ApiHarness) -> None:
    mine = new_store(api)
    theirs = new_store(api, key=KEY_B)
    asst = assistant_id(api)
    thread_id = new_thread(api)["id"]
    param = "tool_resources.file_search.vector_store_ids[0]"
    before = api.table_item_count()
    for store_id in (theirs, "vs_missing", "not-a-store-id"):
        resources = {"file_search": {"vector_store_ids": [store_id]}}
        for response in (
            api.post("/assistants", {"model": "m", "tool_resources": resources}),
            api.post(f"/assistants/{asst}", {"tool_resources": resources}),
            api.post("/threads", {"tool_resources": resources}),
            api.post(f"/threads/{thread_id}", {"tool_resources": resources}),
            api.post("/threads/runs", {"assistant_id": asst, "tool_resources": resources}),
        ):
            error = error_of(response, 404)
            assert error["param"] == param and store_id in error["message"]
        error = error_of(
            api.post("/threads/runs", {"assistant_id": asst, "thread": {"tool_resources": resources}}), 404
        )
        assert error["param"] == f"thread.{param}"
    assert api.table_item_count() == before
    resources = {"file_search": {"vector_store_ids": [mine]}}
    assert (
        api.post(f"/assistants/{asst}", {"tool_resources": resources}).json()["tool_resources"] == resources
    )
    assert new_thread(api, tool_resources=resources)["tool_resources"] == resources


def test_thread_and_run_keeps_both_resource_sets_or_refuses_two_stores(api: ApiHarness) -> None:
    asst = assistant_id(api, tools=[SEARCH])
    store_id = new_store(api)
    searched = {"file_search": {"vector_store_ids": [store_id]}}
    code = {"code_interpreter": {"file_ids": []}}
    run = api.post(
        "/threads/runs",
        {"assistant_id": asst, "tool_resources": searched, "thread": {"tool_resources": code}},
    )
    assert run.status_code == 200, run.text
    thread = api.get(f"/threads/{run.json()['thread_id']}").json()
    assert thread["tool_resources"] == {**searched, **code}
    before = api.table_item_count()
    both = {"assistant_id": asst, "tool_resources": searched, "thread": {"tool_resources": searched}}
    assert error_of(api.post("/threads/runs", both))["param"] == "tool_resources.file_search"
    assert api.table_item_count() == before


def test_the_vector_stores_helper_creates_the_store_with_its_files(api: ApiHarness) -> None:
    file_id = upload(api)
    helper = {
        "file_ids": [file_id],
        "chunking_strategy": {
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
        },
        "metadata": {"origin": "helper"},
    }
    created = api.post(
        "/assistants", {"model": "m", "tool_resources": {"file_search": {"vector_stores": [helper]}}}
    )
    assert created.status_code == 200, created.text
    (store_id,) = created.json()["tool_resources"]["file_search"]["vector_store_ids"]
    store = api.get(f"/vector_stores/{store_id}").json()
    assert (store["metadata"], store["file_counts"]["total"], store["expires_after"]) == (
        {"origin": "helper"},
        1,
        None,
    )
    (listed,) = api.get(f"/vector_stores/{store_id}/files").json()["data"]
    assert listed["id"] == file_id
    assert listed["chunking_strategy"]["static"] == {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}
    thread = new_thread(api, tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id]}]}})
    (thread_store,) = thread["tool_resources"]["file_search"]["vector_store_ids"]
    assert api.get(f"/vector_stores/{thread_store}").json()["expires_after"] == {
        "anchor": "last_active_at",
        "days": 7,
    }


def test_a_bad_vector_stores_helper_writes_nothing(api: ApiHarness) -> None:
    file_id = upload(api)
    store_id = new_store(api)
    before = api.table_item_count()
    both = {"file_search": {"vector_store_ids": [store_id], "vector_stores": [{"file_ids": [file_id]}]}}
    assert error_of(api.post("/assistants", {"model": "m", "tool_resources": both}))["param"] == (
        "tool_resources.file_search"
    )
    missing = {"file_search": {"vector_stores": [{"file_ids": [file_id, "file-missing"]}]}}
    error = error_of(api.post("/threads", {"tool_resources": missing}), 404)
    assert error["param"] == "tool_resources.file_search.vector_stores[0].file_ids[1]"
    two = {"file_search": {"vector_stores": [{"file_ids": []}, {"file_ids": []}]}}
    assert api.post("/assistants", {"model": "m", "tool_resources": two}).status_code == 400
    # Other rules of the request fail before the helper's store is made.
    bad_metadata = {
        "model": "m",
        "metadata": {"k" * 65: "v"},
        "tool_resources": {"file_search": {"vector_stores": [{"file_ids": [file_id]}]}},
    }
    assert api.post("/assistants", bad_metadata).status_code == 400
    modify = api.post(f"/threads/{new_thread(api)['id']}", {"tool_resources": missing})
    assert modify.status_code == 400  # modify takes ids only (as OpenAI's ModifyThreadRequest)
    assert api.table_item_count() == before + 1  # the thread created for the modify


# -- message attachments -> the thread's vector store --------------------------------------------------------
def attachment(file_id: str) -> dict[str, Any]:
    return {"role": "user", "content": "read this", "attachments": [{"file_id": file_id, "tools": [SEARCH]}]}


def test_an_attachment_puts_its_file_in_the_thread_store_created_on_demand(api: ApiHarness) -> None:
    first, second = upload(api, "a.txt"), upload(api, "b.md")
    thread_id = new_thread(api)["id"]
    created = api.post(f"/threads/{thread_id}/messages", attachment(first))
    assert created.status_code == 200, created.text
    assert created.json()["attachments"] == [{"file_id": first, "tools": [SEARCH]}]
    store_id = thread_store_id(thread_id)
    thread = api.get(f"/threads/{thread_id}").json()
    assert thread["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}
    assert api.post(f"/threads/{thread_id}/messages", attachment(second)).status_code == 200
    assert api.post(f"/threads/{thread_id}/messages", attachment(first)).status_code == 200
    files = api.get(f"/vector_stores/{store_id}/files", params={"order": "asc"}).json()["data"]
    assert sorted(file["id"] for file in files) == sorted([first, second])
    assert api.get(f"/vector_stores/{store_id}").json()["expires_after"]["days"] == 7


def test_a_thread_that_names_a_store_gets_attachments_in_that_store(api: ApiHarness) -> None:
    file_id = upload(api)
    store_id = new_store(api)
    thread = new_thread(
        api, tool_resources={"file_search": {"vector_store_ids": [store_id]}}, messages=[attachment(file_id)]
    )
    assert thread["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}
    assert [file["id"] for file in api.get(f"/vector_stores/{store_id}/files").json()["data"]] == [file_id]


def test_thread_and_run_attachments_fill_the_new_threads_store(api: ApiHarness) -> None:
    file_id = upload(api)
    asst = assistant_id(api, tools=[SEARCH])
    run = api.post("/threads/runs", {"assistant_id": asst, "thread": {"messages": [attachment(file_id)]}})
    assert run.status_code == 200, run.text
    thread_id = run.json()["thread_id"]
    store_id = thread_store_id(thread_id)
    assert api.get(f"/threads/{thread_id}").json()["tool_resources"]["file_search"]["vector_store_ids"] == [
        store_id
    ]
    assert [file["id"] for file in api.get(f"/vector_stores/{store_id}/files").json()["data"]] == [file_id]


def test_attachment_files_are_checked_before_anything_is_written(api: ApiHarness) -> None:
    thread_id = new_thread(api)["id"]
    theirs = upload(api, key=KEY_B)
    asst = assistant_id(api)
    before = api.table_item_count()
    for file_id in ("file-missing", theirs):
        error = error_of(api.post(f"/threads/{thread_id}/messages", attachment(file_id)), 404)
        assert error["param"] == "attachments[0].file_id"
        body = {"assistant_id": asst, "additional_messages": [attachment(file_id)]}
        assert error_of(api.post(f"/threads/{thread_id}/runs", body), 404)["param"] == (
            "additional_messages[0].attachments[0].file_id"
        )
    no_file = {"role": "user", "content": "x", "attachments": [{"tools": [SEARCH]}]}
    assert error_of(api.post(f"/threads/{thread_id}/messages", no_file))["param"] == "attachments[0].file_id"
    assert api.table_item_count() == before


def test_a_busy_thread_refuses_an_attachment_before_writing(api: ApiHarness) -> None:
    file_id = upload(api)
    thread_id = new_thread(api)["id"]
    assert api.post(f"/threads/{thread_id}/runs", {"assistant_id": assistant_id(api)}).status_code == 200
    before = api.table_item_count()
    error = error_of(api.post(f"/threads/{thread_id}/messages", attachment(file_id)))
    assert error["param"] == "thread_id" and "while a run" in error["message"]
    assert api.table_item_count() == before


def test_a_retry_after_a_crash_converges_on_one_store_one_file_one_message(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request dies after the store and its file are written, before the message: the retry reuses
    them."""
    file_id = upload(api)
    thread_id = new_thread(api)["id"]
    messages = api.dependencies.messages
    repository = messages._messages  # the message write is the step that crashes
    calls = {"n": 0}
    real_add = repository.add_message

    def crash_once(message: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("process died")
        real_add(message)

    monkeypatch.setattr(repository, "add_message", crash_once)
    assert api.post(f"/threads/{thread_id}/messages", attachment(file_id)).status_code == 500
    store_id = thread_store_id(thread_id)
    assert api.get(f"/threads/{thread_id}").json()["tool_resources"]["file_search"]["vector_store_ids"] == [
        store_id
    ]
    assert api.post(f"/threads/{thread_id}/messages", attachment(file_id)).status_code == 200
    assert len(api.get(f"/threads/{thread_id}/messages").json()["data"]) == 1
    store = api.get(f"/vector_stores/{store_id}").json()
    assert store["file_counts"]["total"] == 1
    assert len(api.get("/vector_stores").json()["data"]) == 1


# -- tool_choice ---------------------------------------------------------------------------------------------
def test_tool_choice_may_name_file_search_when_the_run_has_it(api: ApiHarness) -> None:
    thread_id = new_thread(api)["id"]
    plain = assistant_id(api)
    error = error_of(api.post(f"/threads/{thread_id}/runs", {"assistant_id": plain, "tool_choice": SEARCH}))
    assert error["param"] == "tool_choice" and "file_search" in error["message"]
    run = api.post(
        f"/threads/{thread_id}/runs",
        {"assistant_id": assistant_id(api, tools=[SEARCH]), "tool_choice": SEARCH},
    )
    assert run.status_code == 200, run.text
    assert run.json()["tool_choice"] == SEARCH


# -- run steps: include[] and the private queries ------------------------------------------------------------
STORED_CALL = {
    "id": "call_fs1",
    "type": "file_search",
    "file_search": {
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
        "results": [
            {
                "file_id": "file-1",
                "file_name": "x.txt",
                "score": 0.83,
                "content": [{"type": "text", "text": "chunk"}],
            }
        ],
        "queries": ["what the model searched for"],
    },
}


def put_file_search_step(api: ApiHarness, thread_id: str, run: dict[str, Any]) -> str:
    """The completed tool_calls step as the worker stores it (FILE_SEARCH_CONTRACT.md item 3)."""
    step = RunStep(
        id="step_" + run["id"].split("_", 1)[1],
        owner="tenant-a",
        thread_id=thread_id,
        run_id=run["id"],
        assistant_id=run["assistant_id"],
        created_at=run["created_at"],
        type="tool_calls",
        status=StepStatus.COMPLETED,
        step_details={"type": "tool_calls", "tool_calls": [STORED_CALL]},
        completed_at=run["created_at"],
    )
    table = api.dependencies.file_services.store_repository._table
    table.put(step_to_item(step), Expression(), "attribute_not_exists(PK)")
    return step.id


def test_steps_return_file_search_content_only_on_include_and_never_the_queries(api: ApiHarness) -> None:
    thread_id = new_thread(api)["id"]
    run = api.post(f"/threads/{thread_id}/runs", {"assistant_id": assistant_id(api, tools=[SEARCH])}).json()
    step_id = put_file_search_step(api, thread_id, run)
    steps = f"/threads/{thread_id}/runs/{run['id']}/steps"
    plain = api.get(f"{steps}/{step_id}").json()["step_details"]["tool_calls"][0]["file_search"]
    assert "queries" not in plain
    assert plain["results"] == [{"file_id": "file-1", "file_name": "x.txt", "score": 0.83}]
    for path in (f"{steps}/{step_id}", steps):
        body = api.get(path, params={"include[]": FILE_SEARCH_CONTENT}).json()
        step = body["data"][0] if "data" in body else body
        search = step["step_details"]["tool_calls"][0]["file_search"]
        assert "queries" not in search
        assert search["results"][0]["content"] == [{"type": "text", "text": "chunk"}]
    error = error_of(api.get(steps, params={"include[]": "step_details.tool_calls[*].code_interpreter"}))
    assert error["param"] == "include"
    error = error_of(
        api.post(f"/threads/{thread_id}/runs", {"assistant_id": "asst_x"}, params={"include[]": "x"})
    )
    assert error["param"] == "include"
