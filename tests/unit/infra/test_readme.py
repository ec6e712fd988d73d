"""The README stays accurate about what a user types and configures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from assistants_core.settings import (
    ApiSettings,
    IngestionWorkerSettings,
    SweeperSettings,
    WorkerDeploySettings,
    WorkerSettings,
)
from infra import local_env
from infra.local_env import LocalStackSettings

REPO_ROOT = Path(__file__).resolve().parents[3]
README = (REPO_ROOT / "README.md").read_text()


def _environment_names(settings_class: type[BaseSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize(
    "settings_class",
    [
        ApiSettings,
        WorkerSettings,
        SweeperSettings,
        WorkerDeploySettings,
        LocalStackSettings,
        IngestionWorkerSettings,
    ],
)
def test_every_environment_variable_is_in_the_configuration_table(settings_class: type[BaseSettings]) -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.MULTILINE))
    missing = _environment_names(settings_class) - documented
    assert not missing, f"README's configuration table lacks {sorted(missing)}"


def test_snippet_uses_the_local_stack_address_and_key() -> None:
    base_url = f"http://{local_env.LOCAL_HOST}:{local_env.DEFAULT_API_PORT}/v1"
    assert f'OpenAI(base_url="{base_url}", api_key="{local_env.DEFAULT_DEV_KEY}")' in README
    assert "runs.create_and_poll(" in README


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    named = set(re.findall(r"`make ([a-z-]+)`", README)) | set(re.findall(r"^make ([a-z-]+)", README, re.M))
    assert named
    assert named <= targets, f"README names missing targets {sorted(named - targets)}"
