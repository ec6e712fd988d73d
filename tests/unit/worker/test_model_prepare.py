"""The served model is a deployment setting, prepared once into the volume; no GPU container for a model
that is not there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assistants_core.settings import WorkerDeploySettings
from gpu_worker.model_prepare import MARKER, model_dir, model_ready, prepare

REPO_ROOT = Path(__file__).resolve().parents[3]
REVISION = "a" * 40


def _deploy(**values: Any) -> WorkerDeploySettings:
    return WorkerDeploySettings(**values)


def test_default_is_an_ungated_tool_capable_model_that_fits_the_default_gpu() -> None:
    deploy = WorkerDeploySettings()
    assert deploy.model_repo == "Qwen/Qwen3-4B-Instruct-2507"
    assert deploy.served_name == "Qwen3-4B-Instruct-2507"
    assert deploy.tool_call_format == "hermes"
    assert deploy.gpu == "L4" and deploy.model_dtype == "bfloat16"
    assert deploy.min_containers == 0  # scale to zero unless a team pays for warm containers


def test_settings_come_from_the_deploying_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANTS_DEPLOY_MODEL_REPO", "Qwen/Qwen3-8B")
    monkeypatch.setenv("ASSISTANTS_DEPLOY_MODEL_REVISION", REVISION)
    monkeypatch.setenv("ASSISTANTS_DEPLOY_GPU", "L40S")
    monkeypatch.setenv("ASSISTANTS_DEPLOY_MIN_CONTAINERS", "1")
    deploy = WorkerDeploySettings()
    assert (deploy.served_name, deploy.gpu, deploy.min_containers) == ("Qwen3-8B", "L40S", 1)
    assert deploy.model_folder == f"Qwen--Qwen3-8B@{REVISION}"


def test_prepare_downloads_once_into_a_folder_per_revision(tmp_path: Path) -> None:
    deploy = _deploy(model_repo="Qwen/Qwen3-4B-Instruct-2507", model_revision=REVISION)
    calls: list[dict[str, Any]] = []

    def download(**kwargs: Any) -> str:
        calls.append(kwargs)
        folder = Path(kwargs["local_dir"])
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"w")
        return str(folder)

    assert not model_ready(tmp_path, deploy)
    target = prepare(tmp_path, deploy, download=download)
    assert target == model_dir(tmp_path, deploy) == tmp_path / f"Qwen--Qwen3-4B-Instruct-2507@{REVISION}"
    assert model_ready(tmp_path, deploy)
    assert json.loads((target / MARKER).read_text()) == {"repo": deploy.model_repo, "revision": REVISION}
    (call,) = calls
    assert (call["repo_id"], call["revision"]) == (deploy.model_repo, REVISION)
    assert "*.safetensors" in call["allow_patterns"]
    prepare(tmp_path, deploy, download=download)  # idempotent: no second download
    assert len(calls) == 1
    assert not model_ready(tmp_path, _deploy(model_repo=deploy.model_repo, model_revision="b" * 40))


def test_an_interrupted_or_wrong_download_is_never_ready(tmp_path: Path) -> None:
    deploy = _deploy(model_revision=REVISION)

    def broken(**kwargs: Any) -> str:
        Path(kwargs["local_dir"]).mkdir(parents=True)
        return kwargs["local_dir"]  # no config.json: not a model

    with pytest.raises(RuntimeError, match=r"config\.json"):
        prepare(tmp_path, deploy, download=broken)
    assert not model_ready(tmp_path, deploy)

    def interrupted(**kwargs: Any) -> str:
        Path(kwargs["local_dir"]).mkdir(parents=True)
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        prepare(tmp_path, deploy, download=interrupted)
    assert not model_ready(tmp_path, deploy)


def test_modal_app_is_built_from_the_deploy_settings(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['vllm'] = None\n"
        "import gpu_worker.app as app\n"
        "print(app.MODEL_PATH, app.deploy.gpu, app.deploy.served_name, app.APP_NAME)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{REPO_ROOT / 'functions'}:{REPO_ROOT}",
        "ASSISTANTS_DEPLOY_MODEL_REPO": "Qwen/Qwen3-8B",
        "ASSISTANTS_DEPLOY_MODEL_REVISION": REVISION,
        "ASSISTANTS_DEPLOY_GPU": "L40S",
        "ASSISTANTS_DEPLOY_WORKER_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        f"/models/Qwen--Qwen3-8B@{REVISION}",
        "L40S",
        "Qwen3-8B",
        "serverless-assistants-worker",
    ]
