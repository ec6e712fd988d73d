"""Local worker entry point: ``python -m gpu_worker.main [--engine vllm|scripted]``.

Reads ``WorkerSettings`` from the environment (``ASSISTANTS_*``), applies the CPU defaults for vLLM (each
overridable from the shell), consumes the run queue until SIGTERM/SIGINT, then drains in-flight runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from assistants_core.settings import WorkerSettings
from gpu_worker.consumer import RunConsumer
from gpu_worker.cpu_defaults import apply_cpu_defaults
from gpu_worker.engines.base import Engine
from gpu_worker.engines.scripted import ScriptedEngine
from gpu_worker.log_format import configure_json_logging
from gpu_worker.presence import consumer_presence
from gpu_worker.wiring import build_consumer, new_worker_id

logger = logging.getLogger("gpu_worker")


def make_engine(kind: str, settings: WorkerSettings) -> Engine:
    if kind == "scripted":
        return ScriptedEngine(token_delay_seconds=0.01)
    from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig

    return VllmEngine.start(VllmEngineConfig.from_settings(settings))


async def serve(engine_kind: str) -> None:
    settings = WorkerSettings()  # type: ignore[call-arg]  # values come from the environment
    engine = make_engine(engine_kind, settings)
    consumer: RunConsumer = build_consumer(settings, engine, worker_id=new_worker_id("local"))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, consumer.stop)
    logger.info("worker started", extra={"worker_id": consumer.worker_id, "engine": engine_kind})
    try:
        async with consumer_presence(settings):  # the API wakes no worker while this one receives
            if settings.idle_exit_seconds is None:
                await consumer.run_forever()
            else:
                await consumer.run_until_idle(settings.idle_exit_seconds)
    finally:
        shutdown = getattr(engine, "shutdown", None)
        if callable(shutdown):
            shutdown()
    logger.info("worker stopped", extra={"worker_id": consumer.worker_id, "runs": consumer.finished_runs})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Consume the run queue with a local engine.")
    parser.add_argument("--engine", choices=["vllm", "scripted"], default="vllm")
    args = parser.parse_args(argv)
    configure_json_logging()
    if args.engine == "vllm":
        apply_cpu_defaults()
    asyncio.run(serve(args.engine))


if __name__ == "__main__":
    main()
