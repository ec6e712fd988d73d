"""The SDK's streaming helper prints a live reply of the real vLLM CPU engine (SmolLM2-135M-Instruct) token by
token through the local stack. Structure only: a 135M model's wording is not something to test."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import pytest
from openai import OpenAI
from typing_extensions import override

from gpu_worker.cpu_defaults import apply_cpu_defaults
from gpu_worker.engines.base import Engine
from tests.e2e.conftest import LocalStackHandle
from tests.e2e.streaming_worker import running_worker, worker_settings
from tests.e2e.test_real_engine import MODEL_DIR
from tests.e2e.test_real_engine import pytestmark as real_engine_marks
from tests.e2e.test_streaming import RecordingHandler

pytestmark = real_engine_marks


class PrintingHandler(RecordingHandler):
    @override
    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        print(delta.value, end="", flush=True)
        super().on_text_delta(delta, snapshot)


@pytest.fixture
def real_worker(local_stack: LocalStackHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {**local_stack.environment, **apply_cpu_defaults({})}.items():
        monkeypatch.setenv(name, value)
    settings = worker_settings(str(MODEL_DIR), engine_max_model_len=2048)

    def start_engine() -> Engine:
        from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig

        return VllmEngine.start(VllmEngineConfig.from_settings(settings))

    def stop_engine(engine: Engine) -> None:
        engine.shutdown()  # type: ignore[attr-defined]  # VllmEngine's

    with running_worker(start_engine, settings, close_engine=stop_engine, worker_id="e2e-real-stream"):
        yield


def test_stream_helper_prints_the_real_reply_token_by_token(
    local_stack: LocalStackHandle, real_worker: None
) -> None:
    client = OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)
    assistant = client.beta.assistants.create(
        model="SmolLM2-135M-Instruct", instructions="You are a helpful assistant.", temperature=0.0
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Name three colors."}])
    handler = PrintingHandler()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler, max_completion_tokens=256
    ) as stream:
        stream.until_done()
    print()
    names = [name for name, _ in groupby(handler.names)]
    assert names[:7] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ]
    assert names[7] == "thread.message.delta" and names[-1] in {
        "thread.run.completed",
        "thread.run.incomplete",
    }
    (message,) = stream.get_final_messages()
    assert message.content[0].type == "text"
    assert "".join(handler.text) == message.content[0].text.value != ""
    assert len(handler.text) > 1  # streamed in pieces, not as one block at the end
