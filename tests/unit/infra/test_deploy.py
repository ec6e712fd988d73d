"""`make deploy` (infra/deploy.py) offline: the python3.11 decision, the preflight failing early and clearly,
and the ordered steps (secret and model before the worker), with fake commands."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra import deploy
from infra.deploy import CommandResult, PreflightError, choose_sam_build, preflight, printable

HASHES = "0" * 64 + ":acme"
SHA = "c" * 40
OUTPUTS = {
    "ApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/v1",
    "TableName": "tbl",
    "BucketName": "bkt",
    "RunQueueUrl": "https://sqs/q",
    "IngestionQueueUrl": "https://sqs/ingest",
    "WorkerRoleArn": "arn:aws:iam::123456789012:role/WorkerRole",
}


def _unreserved(count: int) -> CommandResult:
    return CommandResult(0, json.dumps({"AccountLimit": {"UnreservedConcurrentExecutions": count}}))


class FakeCommands:
    """Answers the read-only checks; records every command."""

    def __init__(self, **overrides: CommandResult) -> None:
        self.calls: list[list[str]] = []
        self.answers = {
            "aws sts": CommandResult(0, json.dumps({"Account": "123456789012"})),
            "aws lambda": _unreserved(1000),
            "aws cloudformation": CommandResult(
                0, json.dumps([{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.items()])
            ),
            "modal token": CommandResult(0, "Workspace: acme (ac-12345abcd)\n"),
            "docker info": CommandResult(0, ""),
            "uv python": CommandResult(0, "/opt/uv/python3.11/bin/python3.11\n"),
            **overrides,
        }

    def __call__(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        self.calls.append(list(command))
        return self.answers.get(" ".join(command[:2]), CommandResult(1, ""))


def which_of(*available: str) -> Any:
    return lambda name: f"/usr/bin/{name}" if name in available else None


ALL_CLIS = ("sam", "aws", "modal", "python3.11")


def model_info(repo: str, revision: str) -> object:
    return SimpleNamespace(sha=SHA, gated=False)


def _preflight(env: dict[str, str] | None = None, **kwargs: Any) -> deploy.Plan:
    kwargs.setdefault("which", which_of(*ALL_CLIS))
    kwargs.setdefault("run", FakeCommands())
    kwargs.setdefault("model_info", model_info)
    return preflight(
        {"ASSISTANTS_API_KEY_HASHES": HASHES, **(env or {})}, scratch=Path("/tmp/unused"), **kwargs
    )


# -- python3.11 for sam build
def test_sam_build_uses_python311_on_path(tmp_path: Path) -> None:
    plan = choose_sam_build(which_of("python3.11", "docker"), FakeCommands(), scratch=tmp_path)
    assert plan.args == () and plan.path_prefix is None


def test_without_python311_a_uv_managed_interpreter_is_linked_for_sam(tmp_path: Path) -> None:
    plan = choose_sam_build(which_of("uv", "docker"), FakeCommands(), scratch=tmp_path)
    assert plan.args == () and plan.path_prefix == str(tmp_path)
    assert (tmp_path / "python3.11").readlink() == Path("/opt/uv/python3.11/bin/python3.11")
    assert "uv" in plan.note


def test_without_python311_or_uv_sam_builds_in_its_container(tmp_path: Path) -> None:
    plan = choose_sam_build(which_of("docker"), FakeCommands(), scratch=tmp_path)
    assert plan.args == ("--use-container",)
    assert "build container" in plan.note


def test_without_any_way_to_python311_the_error_names_them(tmp_path: Path) -> None:
    stopped_docker = FakeCommands(**{"docker info": CommandResult(1, "")})
    with pytest.raises(PreflightError, match=r"python3\.11.*uv.*Docker"):
        choose_sam_build(which_of("docker"), stopped_docker, scratch=tmp_path)


# -- preflight fails early and clearly
@pytest.mark.parametrize(
    ("env", "which", "commands", "message"),
    [
        ({"ASSISTANTS_API_KEY_HASHES": "sk-raw:acme"}, ALL_CLIS, {}, "api_key_hash"),
        ({}, ("aws", "modal", "python3.11"), {}, "`sam` is not on PATH"),
        ({}, ("sam", "aws", "python3.11"), {}, "`modal` is not on PATH"),
        ({}, ALL_CLIS, {"aws sts": CommandResult(255, "")}, "no working AWS credentials"),
        ({}, ALL_CLIS, {"modal token": CommandResult(1, "")}, "no working Modal token"),
        ({}, ALL_CLIS, {"modal token": CommandResult(0, "no id here")}, "MODAL_WORKSPACE_ID"),
        (
            {},
            ALL_CLIS,
            {"aws lambda": _unreserved(10)},
            "STREAM_RESERVED_CONCURRENCY=0",
        ),
        ({"USE_MODAL_OIDC": "0"}, ALL_CLIS, {}, "WORKER_AWS_ACCESS_KEY_ID"),
        ({"MODEL_ALIASES": "gpt-4o=llama-3"}, ALL_CLIS, {}, "MODEL_ALIASES: .*not served"),
    ],
)
def test_preflight_stops_before_any_change(
    env: dict[str, str], which: tuple[str, ...], commands: dict[str, CommandResult], message: str
) -> None:
    fake = FakeCommands(**commands)
    with pytest.raises(PreflightError, match=message):
        _preflight(env, which=which_of(*which), run=fake)
    assert all(call[0] not in {"sam"} and call[:3] != ["modal", "deploy"] for call in fake.calls)


def test_gated_or_missing_models_fail_in_preflight() -> None:
    with pytest.raises(PreflightError, match="gated"):
        _preflight(model_info=lambda repo, revision: SimpleNamespace(sha=SHA, gated="auto"))

    def missing(repo: str, revision: str) -> object:
        raise LookupError("404")

    with pytest.raises(PreflightError, match="cannot read Qwen/Qwen3-4B-Instruct-2507@main"):
        _preflight(model_info=missing)


def test_preflight_pins_the_revision_and_reads_the_workspace() -> None:
    plan = _preflight()
    assert plan.deploy.model_revision == SHA
    assert plan.workspace_id == "ac-12345abcd"
    assert plan.worker_env["ASSISTANTS_DEPLOY_MODEL_REVISION"] == SHA
    assert plan.worker_env["ASSISTANTS_DEPLOY_MODEL_REPO"] == "Qwen/Qwen3-4B-Instruct-2507"
    assert any("WAKE_MODAL_TOKEN_ID" in note for note in plan.notes)


# -- the ordered steps
def test_steps_put_the_secret_and_the_model_before_the_worker() -> None:
    plan = _preflight({"WAKE_MODAL_TOKEN_ID": "ak-1", "WAKE_MODAL_TOKEN_SECRET": "as-secret"})
    titles = [title for title, _ in plan.steps]
    assert titles == [
        "validate the template",
        "build the Lambda code",
        "deploy the AWS stack",
        "write the worker's Modal secret",
        "prepare the model in the Modal Volume",
        "deploy the worker",
    ]
    sam_deploy = dict(plan.steps)["deploy the AWS stack"]
    parameters = sam_deploy[sam_deploy.index("--parameter-overrides") + 1 :]
    assert "ServedModels=Qwen3-4B-Instruct-2507" in parameters
    assert "ModalWorkspaceId=ac-12345abcd" in parameters
    assert "WorkerWakeModalTokenId=ak-1" in parameters
    shown = printable(sam_deploy)
    assert "as-secret" not in shown and HASHES not in shown and "ApiKeyHashes=****" in shown


def test_skip_worker_deploys_the_aws_side_only() -> None:
    plan = _preflight({"SKIP_WORKER": "1"})
    assert [command[0] for _, command in plan.steps] == ["sam", "sam", "sam"]


def test_python311_decision_reaches_sam_build(tmp_path: Path) -> None:
    plan = _preflight(which=which_of("sam", "aws", "modal", "docker"))
    assert dict(plan.steps)["build the Lambda code"][-1] == "--use-container"


def test_execute_runs_in_order_with_the_role_in_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _preflight()
    executed: list[tuple[list[str], dict[str, str]]] = []

    def fake_run(command: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        executed.append((command, env))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(deploy.subprocess, "run", fake_run)
    base_url = deploy.execute(
        plan, {"ASSISTANTS_API_KEY_HASHES": HASHES}, ["--no-confirm-changeset"], FakeCommands()
    )
    assert base_url == OUTPUTS["ApiUrl"]
    commands = [command for command, _ in executed]
    assert commands[2][-1] == "--no-confirm-changeset"
    secret = commands[3]
    assert "ASSISTANTS_AWS_ROLE_ARN=" + OUTPUTS["WorkerRoleArn"] in secret
    assert "ASSISTANTS_INGESTION_QUEUE_URL=https://sqs/ingest" in secret  # the Modal ingestion worker's
    assert "ASSISTANTS_TABLE_NAME=tbl" in secret and not any(
        e.startswith("AWS_ACCESS_KEY_ID") for e in secret
    )
    assert commands[4][:2] == ["modal", "run"] and commands[5][:2] == ["modal", "deploy"]
    assert executed[4][1]["ASSISTANTS_DEPLOY_MODEL_REVISION"] == SHA  # prepared == deployed revision
    assert executed[5][1]["ASSISTANTS_DEPLOY_MODEL_REVISION"] == SHA


def test_a_failed_step_stops_the_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _preflight()
    executed: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        executed.append(command)
        return subprocess.CompletedProcess(command, 1 if command[:2] == ["modal", "run"] else 0)

    monkeypatch.setattr(deploy.subprocess, "run", fake_run)
    with pytest.raises(PreflightError, match="prepare the model"):
        deploy.execute(plan, {"ASSISTANTS_API_KEY_HASHES": HASHES}, [], FakeCommands())
    assert ["modal", "deploy", "gpu_worker/app.py"] not in executed  # no worker without its model


def test_key_based_fallback_writes_keys_instead_of_the_role() -> None:
    env = {"USE_MODAL_OIDC": "0", "WORKER_AWS_ACCESS_KEY_ID": "AKIA1", "WORKER_AWS_SECRET_ACCESS_KEY": "s"}
    plan = _preflight(env)
    entries = deploy.secret_entries(OUTPUTS, plan, env)
    assert "AWS_ACCESS_KEY_ID=AKIA1" in entries
    assert not any(entry.startswith("ASSISTANTS_AWS_ROLE_ARN") for entry in entries)


def test_dry_run_prints_the_ordered_steps_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("sam", "aws", "modal", "python3.11"):  # present, but must never run
        tool = tmp_path / name
        tool.write_text(f"#!/bin/sh\necho ran {name} >> {tmp_path / 'ran'}\nexit 1\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ASSISTANTS_API_KEY_HASHES", HASHES)
    monkeypatch.setenv("MODAL_WORKSPACE_ID", "ac-999")
    assert deploy.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "step 1: validate the template: sam validate --lint --region us-east-1" in out
    assert out.index("prepare the model") < out.index(
        "step 6: deploy the worker: modal deploy gpu_worker/app.py"
    )
    assert "ModalWorkspaceId=ac-999" in out and HASHES not in out
    assert not (tmp_path / "ran").exists()


def test_make_deploy_and_the_script_call_the_python_deploy() -> None:
    makefile = (deploy.REPO_ROOT / "Makefile").read_text()
    assert "infra/deploy.sh $(if $(DRY_RUN),--dry-run)" in makefile
    assert "-m infra.deploy" in (deploy.REPO_ROOT / "infra" / "deploy.sh").read_text()


def test_every_parameter_the_deploy_passes_is_a_template_parameter() -> None:
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(deploy.REPO_ROOT / "template.yaml"))
    plan = _preflight(
        {
            "WAKE_MODAL_TOKEN_ID": "ak-1",
            "WAKE_MODAL_TOKEN_SECRET": "s",
            "MODEL_ALIASES": "a=Qwen3-4B-Instruct-2507",
        }
    )
    sam_deploy = dict(plan.steps)["deploy the AWS stack"]
    passed = {p.split("=", 1)[0] for p in sam_deploy[sam_deploy.index("--parameter-overrides") + 1 :]}
    assert passed <= set(template["Parameters"])
    assert {"ApiKeyHashes", "ServedModels", "ModalWorkspaceId", "StreamReservedConcurrency"} <= passed
