"""A worker for the streaming e2e tests: the consumer wired from ``WorkerSettings`` exactly as
``gpu_worker.main`` wires it (evented run repository, event log), on its own event loop in a thread, so the
synchronous SDK in the test reads the stream live while the run generates."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from assistants_core.settings import WorkerSettings
from gpu_worker.consumer import RunConsumer
from gpu_worker.engines.base import Engine
from gpu_worker.wiring import build_consumer


def worker_settings(model_path: str = "scripted", **overrides: object) -> WorkerSettings:
    """Fast-reacting settings; resource names and the moto endpoint come from the ``ASSISTANTS_*``
    environment of the local stack, which must be set."""
    values: dict[str, object] = {
        "model_path": model_path,
        "receive_wait_seconds": 1,
        "heartbeat_seconds": 1.0,
        "cancel_poll_seconds": 0.05,
        **overrides,
    }
    return WorkerSettings.model_validate(values)


@contextmanager
def running_worker(
    make_engine: Callable[[], Engine],
    settings: WorkerSettings,
    *,
    close_engine: Callable[[Engine], None] = lambda engine: None,
    worker_id: str = "e2e-stream",
) -> Iterator[None]:
    """Consume the queue until the block ends. ``make_engine`` runs on the worker's loop (vLLM's engine
    binds to the loop it starts on); ``close_engine`` runs there too, after the consumer stopped."""
    loop = asyncio.new_event_loop()
    consumers: list[RunConsumer] = []
    started = threading.Event()

    async def serve() -> None:
        engine = make_engine()
        try:
            consumers.append(build_consumer(settings, engine, worker_id=worker_id))
            started.set()
            await consumers[0].run_forever()
        finally:
            started.set()
            close_engine(engine)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), name=worker_id, daemon=True)
    thread.start()
    started.wait(timeout=300)
    try:
        assert consumers, "the worker failed to start"
        yield
    finally:
        if consumers:
            loop.call_soon_threadsafe(consumers[0].stop)
        thread.join(timeout=60)
        loop.close()
