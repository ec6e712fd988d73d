"""``/v1/models`` and served-model checks at create, through the API with the official openai SDK."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from assistants_core.services.models import ModelCatalog
from infra import local_env
from tests.unit.api.conftest import KEY_A, ApiHarness, running_api

SERVED = "Qwen3-4B-Instruct-2507"
README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


@pytest.fixture
def served_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with running_api(
        monkeypatch,
        served_models=SERVED,
        model_aliases="gpt-4o=Qwen3-4B-Instruct-2507,gpt-4.1-mini=" + SERVED,
    ) as harness:
        yield harness


def _sdk(harness: ApiHarness) -> OpenAI:
    return OpenAI(base_url="http://testserver/v1", api_key=KEY_A, http_client=harness.client, max_retries=0)


def test_models_list_names_served_models_and_aliases(served_api: ApiHarness) -> None:
    models = list(_sdk(served_api).models.list())
    assert [model.id for model in models] == [SERVED, "gpt-4o", "gpt-4.1-mini"]
    assert {model.object for model in models} == {"model"}
    assert all(isinstance(model.created, int) and model.owned_by for model in models)
    raw = served_api.get("/models").json()
    assert set(raw) == {"object", "data"} and raw["object"] == "list"
    assert set(raw["data"][0]) == {"id", "object", "created", "owned_by"}


def test_models_retrieve_and_unknown_model(served_api: ApiHarness) -> None:
    client = _sdk(served_api)
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    assert client.models.retrieve(SERVED).id == SERVED
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-5")
    assert missing.value.body["param"] == "model"  # type: ignore[index]


def test_models_need_an_api_key(served_api: ApiHarness) -> None:
    assert served_api.client.get("/v1/models").status_code == 401


def test_assistant_and_run_for_an_unserved_model_are_a_400_naming_the_served_models(
    served_api: ApiHarness,
) -> None:
    client = _sdk(served_api)
    items_before = served_api.table_item_count()
    with pytest.raises(openai.BadRequestError) as rejected:
        client.beta.assistants.create(model="gpt-5")
    error = rejected.value.body
    assert error["param"] == "model" and error["code"] == "model_not_found"  # type: ignore[index]
    assert SERVED in error["message"] and "gpt-4o" in error["message"]  # type: ignore[index]
    assert served_api.table_item_count() == items_before

    assistant = client.beta.assistants.create(model="gpt-4o")  # an alias: accepted, kept as given
    assert assistant.model == "gpt-4o"
    with pytest.raises(openai.BadRequestError) as modified:
        client.beta.assistants.update(assistant.id, model="llama-3")
    assert modified.value.body["param"] == "model"  # type: ignore[index]
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as run_rejected:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, model="o3")
    assert run_rejected.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.create_and_run(assistant_id=assistant.id, model="o3")
    assert served_api.queue_depth() == 0
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.model == "gpt-4o" and run.status == "queued"


def test_without_a_served_list_any_model_is_accepted(api: ApiHarness) -> None:
    client = _sdk(api)
    assert client.beta.assistants.create(model="anything").model == "anything"
    assert list(client.models.list()) == []


def test_local_stack_serves_the_model_of_the_readme_snippet() -> None:
    resources = local_env.LocalResources("http://127.0.0.1:1", "table", "bucket", "http://127.0.0.1:1/q")
    environment = local_env.api_environment(resources, "sk-local-dev")
    catalog = ModelCatalog.from_settings(environment["ASSISTANTS_SERVED_MODELS"], "")
    (snippet_model,) = set(re.findall(r'assistants\.create\(\n\s+model="([^"]+)"', README))
    assert catalog.require_served(snippet_model) == snippet_model
    assert environment["ASSISTANTS_WORKER_WAKE"] == "local"


def test_alias_settings_are_checked_when_the_api_starts() -> None:
    with pytest.raises(ValueError, match="<requested name>=<served model>"):
        ModelCatalog.from_settings(SERVED, "gpt-4o")
    with pytest.raises(ValueError, match="not served"):
        ModelCatalog.from_settings(SERVED, "gpt-4o=llama-3")
    catalog = ModelCatalog.from_settings(f" {SERVED} ,,", f"gpt-4o = {SERVED}")
    assert [entry.id for entry in catalog.entries()] == [SERVED, "gpt-4o"]
    assert catalog.require_served("gpt-4o") == SERVED
