"""Autoscaling arithmetic, CPU defaults, JSON logs, the model converter's guards and import hygiene."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_worker.autoscale import consumers_needed
from gpu_worker.cpu_defaults import CPU_ENVIRONMENT_DEFAULTS, apply_cpu_defaults
from gpu_worker.log_format import JsonFormatter
from gpu_worker.model_setup import convert, is_converted

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("depth", "running", "per_consumer", "expected"),
    [
        (0, 0, 32, 0),
        (1, 0, 32, 1),
        (32, 0, 32, 1),
        (33, 0, 32, 2),
        (100, 1, 32, 3),
        (100, 4, 32, 0),
        (10_000, 0, 32, 10),  # capped at max_consumers
        (10_000, 12, 32, 0),
    ],
)
def test_consumers_needed(depth: int, running: int, per_consumer: int, expected: int) -> None:
    assert consumers_needed(depth, running, per_consumer, max_consumers=10) == expected


def test_consumers_needed_rejects_a_zero_capacity() -> None:
    with pytest.raises(ValueError):
        consumers_needed(5, 0, 0)


def test_cpu_defaults_fill_only_unset_variables() -> None:
    environ = {"VLLM_CPU_KVCACHE_SPACE": "4"}
    applied = apply_cpu_defaults(environ)
    assert environ["VLLM_CPU_KVCACHE_SPACE"] == "4"  # overridden from the shell, kept
    assert "VLLM_CPU_KVCACHE_SPACE" not in applied
    assert environ["ASSISTANTS_ENGINE_DTYPE"] == "float32"
    assert environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert set(environ) == set(CPU_ENVIRONMENT_DEFAULTS)


def test_json_formatter_carries_extra_fields() -> None:
    record = logging.LogRecord("gpu_worker.consumer", logging.INFO, __file__, 1, "run claimed", (), None)
    record.run_id = "run_1"
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["run_id"], line["level"]) == ("run claimed", "run_1", "INFO")


def test_convert_leaves_an_existing_model_alone(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert is_converted(tmp_path)
    assert convert(tmp_path / "missing.gguf", tmp_path) == tmp_path
    assert (tmp_path / "model.safetensors").read_bytes() == b"x"


def test_worker_modules_import_without_vllm_and_modal_needs_no_token(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['vllm'] = None\n"
        "import gpu_worker.consumer, gpu_worker.main, gpu_worker.wiring, gpu_worker.engines.vllm_engine\n"
        "import gpu_worker.app as app\n"
        "assert app.consumers_needed(64, 0, app.RUNS_PER_CONSUMER) == 2\n"
        "assert app.deploy.ingestion_gpu == 'T4' and app.deploy.ingestion_max_containers == 2\n"
        "from assistants_core.adapters import worker_spawn\n"  # the classes the API's wakes spawn
        "assert hasattr(app, worker_spawn.WORKER_CLASS_NAME)\n"
        "assert hasattr(app, worker_spawn.INGESTION_WORKER_CLASS_NAME)\n"
        "print(type(app.app).__name__, type(app.GpuWorker).__name__, type(app.IngestionWorker).__name__,\n"
        "      type(app.IngestionWorker().consume).__name__, app.MINILM_WHEEL)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no ~/.modal.toml, no token
        "PYTHONPATH": f"{REPO_ROOT / 'functions'}:{REPO_ROOT}",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    app_type, worker_type, ingestion_type, consume_type, minilm = result.stdout.split()
    assert (app_type, worker_type, ingestion_type) == ("App", "Cls", "Cls")
    assert consume_type != "NoneType"  # the method the autoscale spawns
    # The Modal image's embedding model is the one the local stack and the API's search layer install.
    assert f'"{minilm}"' in (REPO_ROOT / "Makefile").read_text()
    assert f"MINILM := {minilm}" in (REPO_ROOT / "infra" / "search_layer" / "Makefile").read_text()
