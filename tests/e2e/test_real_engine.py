"""The real vLLM CPU engine with the converted SmolLM2 model, end to end: the official ``openai`` SDK creates
runs through the local stack's API (moto server + uvicorn, tests/e2e/conftest.py), the worker's consumer
(wired from ``WorkerSettings`` as ``gpu_worker.main`` wires it) generates them, and the SDK reads the replies.

Slow (~10 s to load on CPU), so marked ``real_engine``. Asserts structure only: a 135M model's wording is
not something to test.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from openai import OpenAI

from assistants_core.settings import WorkerSettings
from gpu_worker.cpu_defaults import apply_cpu_defaults
from gpu_worker.wiring import build_consumer
from tests.e2e.conftest import LocalStackHandle

MODEL_DIR = Path(__file__).resolve().parents[2] / ".cache" / "models" / "SmolLM2-135M-Instruct"

pytestmark = [
    pytest.mark.real_engine,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (MODEL_DIR / "config.json").is_file(),
        reason=f"converted model missing at {MODEL_DIR}: run `make model`",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None, reason="vLLM not installed: run `make engine`"
    ),
]


def test_real_engine_completes_concurrent_runs_created_with_the_sdk(
    local_stack: LocalStackHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in apply_cpu_defaults({}).items():
        monkeypatch.setenv(name, value)
    client = OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)
    assistant = client.beta.assistants.create(
        model="SmolLM2-135M-Instruct", instructions="You are a helpful assistant.", temperature=0.0
    )
    capital = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    story = client.beta.threads.create(
        messages=[{"role": "user", "content": "Write a long story about a dragon."}]
    )
    budget = 256  # the API's minimum, as OpenAI's
    runs = client.beta.threads.runs
    answered = runs.create(capital.id, assistant_id=assistant.id, max_completion_tokens=budget)
    limited = runs.create(story.id, assistant_id=assistant.id, max_completion_tokens=budget)

    settings = WorkerSettings(  # type: ignore[call-arg]
        model_path=str(MODEL_DIR),
        engine_max_model_len=2048,
        receive_wait_seconds=0,
        heartbeat_seconds=1.0,
    )  # resource names and the moto endpoint come from the stack's ASSISTANTS_* environment

    async def consume_until_idle() -> None:
        from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig

        engine = VllmEngine.start(VllmEngineConfig.from_settings(settings))
        try:
            await build_consumer(settings, engine, worker_id="e2e-real-engine").run_until_idle()
        finally:
            engine.shutdown()

    asyncio.run(consume_until_idle())

    done = client.beta.threads.runs.retrieve(answered.id, thread_id=capital.id)
    assert done.status in {"completed", "incomplete"}
    assert done.usage is not None
    assert done.usage.prompt_tokens > 0
    assert 0 < done.usage.completion_tokens <= budget
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    reply = client.beta.threads.messages.list(capital.id, order="desc").data[0]
    assert (reply.role, reply.run_id, reply.assistant_id) == ("assistant", done.id, assistant.id)
    assert reply.content[0].type == "text" and reply.content[0].text.value.strip()
    (step,) = client.beta.threads.runs.steps.list(done.id, thread_id=capital.id).data
    assert step.type == "message_creation"
    assert step.step_details.message_creation.message_id == reply.id  # type: ignore[union-attr]

    # A long story most likely hits the budget; either way the status must agree with the token count.
    story_run = client.beta.threads.runs.retrieve(limited.id, thread_id=story.id)
    assert story_run.usage is not None
    story_reply = client.beta.threads.messages.list(story.id, order="desc").data[0]
    assert story_reply.role == "assistant"
    if story_run.status == "incomplete":
        assert story_run.incomplete_details is not None
        assert story_run.incomplete_details.reason == "max_completion_tokens"
        assert story_run.usage.completion_tokens == budget
        assert story_reply.status == "incomplete"
    else:
        assert story_run.status == "completed"
        assert story_run.usage.completion_tokens < budget
        assert story_reply.status == "completed"
