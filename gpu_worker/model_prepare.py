"""Prepare the served model in the Modal Volume once (``modal run gpu_worker/app.py::prepare_model``), and
tell whether it is ready, so no GPU container is started for a model it cannot load. No Modal import."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistants_core.settings import WorkerDeploySettings

MARKER = "PREPARED.json"
# What vLLM needs of a Hugging Face repo (no other formats, no READMEs' images).
MODEL_FILE_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken", "merges.txt"]

Downloader = Callable[..., str]


def model_dir(models_root: Path, deploy: WorkerDeploySettings) -> Path:
    return models_root / deploy.model_folder


def model_ready(models_root: Path, deploy: WorkerDeploySettings) -> bool:
    """The marker is written last, after every file: a present marker means a complete model."""
    marker = model_dir(models_root, deploy) / MARKER
    if not marker.is_file():
        return False
    recorded = json.loads(marker.read_text())
    return bool(
        recorded.get("repo") == deploy.model_repo and recorded.get("revision") == deploy.model_revision
    )


def _download_from_hub(**kwargs: Any) -> str:
    from huggingface_hub import snapshot_download

    return str(snapshot_download(**kwargs))


def prepare(models_root: Path, deploy: WorkerDeploySettings, *, download: Downloader | None = None) -> Path:
    """Download (or, for the bundled SmolLM2, convert) the model into its folder; idempotent."""
    target = model_dir(models_root, deploy)
    if model_ready(models_root, deploy):
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    if deploy.bundled:
        from gpu_worker.model_setup import convert, locate_gguf

        convert(locate_gguf(), staging)
    else:
        (download or _download_from_hub)(
            repo_id=deploy.model_repo,
            revision=deploy.model_revision,
            local_dir=str(staging),
            allow_patterns=MODEL_FILE_PATTERNS,
        )
    if not (staging / "config.json").is_file():
        raise RuntimeError(
            f"{deploy.model_repo}@{deploy.model_revision} has no config.json: not a model vLLM loads"
        )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    marker = {"repo": deploy.model_repo, "revision": deploy.model_revision}
    (target / MARKER).write_text(json.dumps(marker))
    return target
