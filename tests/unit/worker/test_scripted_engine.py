"""The scripted engine is deterministic and honours the Engine contract the consumer relies on."""

from __future__ import annotations

import asyncio

import pytest

from gpu_worker.engines.base import ChatMessage, EngineError, GenerationChunk, SamplingOptions
from gpu_worker.engines.scripted import ScriptedEngine

PROMPT = [ChatMessage("system", "s"), ChatMessage("user", "alpha beta gamma")]


def collect(engine: ScriptedEngine, max_tokens: int, request_id: str = "r") -> list[GenerationChunk]:
    async def run() -> list[GenerationChunk]:
        return [chunk async for chunk in engine.generate(request_id, PROMPT, SamplingOptions(max_tokens))]

    return asyncio.run(run())


def test_reply_echoes_the_last_user_message_and_stops() -> None:
    chunks = collect(ScriptedEngine(), 100)
    assert "".join(c.text_delta for c in chunks) == "You said: alpha beta gamma"
    assert [c.completion_tokens for c in chunks] == [1, 2, 3, 4, 5]
    assert chunks[-1].finish_reason == "stop"
    assert {c.prompt_tokens for c in chunks} == {ScriptedEngine().count_prompt_tokens(PROMPT)}


def test_max_tokens_ends_with_length() -> None:
    chunks = collect(ScriptedEngine(), 2)
    assert "".join(c.text_delta for c in chunks) == "You said:"
    assert chunks[-1].finish_reason == "length"


def test_reply_tokens_cycles_the_reply() -> None:
    chunks = collect(ScriptedEngine(reply_tokens=7), 100)
    assert chunks[-1].completion_tokens == 7
    assert chunks[-1].finish_reason == "stop"


def test_failure_injection() -> None:
    with pytest.raises(EngineError):
        collect(ScriptedEngine(fail_after_tokens=1), 100)
    engine = ScriptedEngine(failure_marker="beta")
    with pytest.raises(EngineError):
        collect(engine, 100)
    assert not engine.active_requests


def test_abort_stops_the_stream_and_counts_concurrency() -> None:
    engine = ScriptedEngine(token_delay_seconds=0.01, reply_tokens=10_000)

    async def run() -> tuple[int, int]:
        async def consume(request_id: str) -> int:
            produced = 0
            async for chunk in engine.generate(request_id, PROMPT, SamplingOptions(100_000)):
                produced = chunk.completion_tokens
            return produced

        tasks = [asyncio.create_task(consume(name)) for name in ("a", "b")]
        await asyncio.sleep(0.05)
        await engine.abort("a")
        await engine.abort("b")
        first, second = await asyncio.gather(*tasks)
        return first, second

    first, second = asyncio.run(run())
    assert first < 10_000 and second < 10_000
    assert engine.max_concurrent_requests == 2
    assert engine.aborted_requests == ["a", "b"]
    assert not engine.active_requests
