"""One ``make deploy`` from nothing to a working system: preflight, then the AWS stack, then the worker.

    ASSISTANTS_API_KEY_HASHES="<sha256>:<tenant>[,...]" python -m infra.deploy [--dry-run] [-- sam args]

Preflight checks everything a deploy needs before anything changes, and fails early with what to do:
the API key entries, the CLIs (sam, aws, modal), AWS credentials, a Modal token (and its workspace id for
OIDC), an interpreter for ``sam build`` (python3.11 on PATH, else a uv-managed 3.11, else SAM's build
container), Lambda concurrency for the streaming function's reservation, and the served model (the
revision pinned to a commit sha, the repo ungated). Then, in order: sam validate/build/deploy, the Modal
secret (role ARN for OIDC, or the key-based fallback), the model prepared into the Modal Volume, and only
then ``modal deploy`` (no GPU container is ever scheduled for a model that is not there).
``--dry-run`` runs no command: it prints the decisions and the ordered steps.

Optional environment: STAGE (prod), CORS_ALLOW_ORIGINS (*), SAM_CONFIG_ENV (default), STACK_NAME,
AWS_REGION (samconfig.toml's), MODEL_ALIASES ("gpt-4o=<served>,..."), STREAM_RESERVED_CONCURRENCY (50),
MODAL_WORKSPACE_ID (else read from `modal token info`), MODAL_ENVIRONMENT (main), WAKE_MODAL_TOKEN_ID /
WAKE_MODAL_TOKEN_SECRET (the API's token to wake the worker on run create), WORKER_AWS_ACCESS_KEY_ID /
WORKER_AWS_SECRET_ACCESS_KEY (key-based fallback when OIDC is off: USE_MODAL_OIDC=0), SKIP_WORKER=1, and
every ``ASSISTANTS_DEPLOY_*`` setting of the worker (README "Deployment").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistants_core.services.models import ModelCatalog, parse_aliases
from assistants_core.settings import WorkerDeploySettings

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PYTHON = "python3.11"  # template.yaml Globals.Runtime
UNRESERVED_MINIMUM = 100  # Lambda keeps at least this much account concurrency unreserved
KEY_ENTRY = re.compile(r"^[0-9a-f]{64}:[A-Za-z0-9_.-]+(,[0-9a-f]{64}:[A-Za-z0-9_.-]+)*$")
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
WORKSPACE_ID = re.compile(r"\bac-[A-Za-z0-9]+\b")

Which = Callable[[str], str | None]


class PreflightError(Exception):
    """Something a deploy needs is missing; the message says what to do."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str


Run = Callable[[Sequence[str], Mapping[str, str] | None], CommandResult]


def run_command(command: Sequence[str], extra_env: Mapping[str, str] | None = None) -> CommandResult:
    """Run a read-only check and capture its output."""
    completed = subprocess.run(
        list(command),
        env={**os.environ, **(extra_env or {})},
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    return CommandResult(completed.returncode, completed.stdout)


@dataclass(frozen=True)
class BuildPlan:
    """How ``sam build`` gets a python3.11: extra arguments, a PATH prefix, and what to tell the user."""

    args: tuple[str, ...]
    path_prefix: str | None
    note: str


def choose_sam_build(which: Which, run: Run, *, scratch: Path) -> BuildPlan:
    """python3.11 on PATH; else a uv-managed 3.11 (linked into ``scratch`` as python3.11 for sam); else SAM's
    python3.11 build container (Docker); else a PreflightError naming the three ways out."""
    if which(LAMBDA_PYTHON):
        return BuildPlan((), None, f"sam build uses {which(LAMBDA_PYTHON)}")
    if which("uv"):
        found = run(["uv", "python", "find", "3.11"], None)
        if found.returncode != 0:
            found = run(["uv", "python", "install", "3.11"], None)
            found = run(["uv", "python", "find", "3.11"], None) if found.returncode == 0 else found
        interpreter = found.stdout.strip().splitlines()[-1] if found.returncode == 0 and found.stdout else ""
        if interpreter:
            scratch.mkdir(parents=True, exist_ok=True)
            link = scratch / LAMBDA_PYTHON
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(interpreter)
            return BuildPlan(
                (), str(scratch), f"no {LAMBDA_PYTHON} on PATH: sam build uses uv's {interpreter}"
            )
    if which("docker") and run(["docker", "info"], None).returncode == 0:
        return BuildPlan(
            ("--use-container",), None, f"no {LAMBDA_PYTHON} on PATH: sam build runs in SAM's build container"
        )
    raise PreflightError(
        f"sam build needs {LAMBDA_PYTHON} (the Lambda runtime): install it, or uv "
        "(https://docs.astral.sh/uv/, a managed 3.11 is used), or start Docker (sam build --use-container)"
    )


@dataclass
class Plan:
    """Everything decided by the preflight: the ordered steps run one after another."""

    region: str
    stack_name: str
    deploy: WorkerDeploySettings
    build: BuildPlan
    workspace_id: str | None
    notes: list[str] = field(default_factory=list)
    steps: list[tuple[str, list[str]]] = field(default_factory=list)
    worker_env: dict[str, str] = field(default_factory=dict)


def samconfig_value(config_env: str, section: str, key: str) -> str:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    return str(config[config_env][section]["parameters"][key])


def _require_cli(which: Which, name: str, hint: str) -> None:
    if not which(name):
        raise PreflightError(f"`{name}` is not on PATH: {hint}")


def check_aws(run: Run, region: str, reserved: int) -> str:
    """AWS credentials work, and the account can reserve ``reserved`` for the stream function."""
    identity = run(["aws", "sts", "get-caller-identity", "--output", "json"], None)
    if identity.returncode != 0:
        raise PreflightError("no working AWS credentials: `aws configure` (or AWS_PROFILE) first")
    account = str(json.loads(identity.stdout)["Account"])
    if reserved > 0:
        settings = run(
            ["aws", "lambda", "get-account-settings", "--region", region, "--output", "json"], None
        )
        if settings.returncode == 0:
            unreserved = int(json.loads(settings.stdout)["AccountLimit"]["UnreservedConcurrentExecutions"])
            if unreserved - reserved < UNRESERVED_MINIMUM:
                raise PreflightError(
                    f"the account has {unreserved} unreserved Lambda concurrency in {region}; reserving "
                    f"{reserved} for streams must leave {UNRESERVED_MINIMUM}: set "
                    "STREAM_RESERVED_CONCURRENCY=0 (or lower), or ask AWS for a higher concurrency quota"
                )
    return account


def check_modal(run: Run, workspace_id: str | None) -> str | None:
    """A Modal token works; returns the workspace id (for the OIDC role) from `modal token info`."""
    info = run(["modal", "token", "info"], None)
    if info.returncode != 0:
        raise PreflightError("no working Modal token: run `modal token new` (or set MODAL_TOKEN_ID/SECRET)")
    if workspace_id:
        return workspace_id
    found = WORKSPACE_ID.search(info.stdout)
    return found.group(0) if found else None


def pin_model_revision(deploy: WorkerDeploySettings, model_info: Callable[[str, str], object]) -> str:
    """The commit sha the deploy prepares and serves: a branch or tag is resolved once (and reported); a
    gated or missing repo fails here, not in a GPU container."""
    if deploy.bundled:
        return deploy.model_revision
    try:
        info = model_info(deploy.model_repo, deploy.model_revision)
    except Exception as error:
        raise PreflightError(
            f"cannot read {deploy.model_repo}@{deploy.model_revision} on Hugging Face: {error}"
        ) from error
    if getattr(info, "gated", False):
        raise PreflightError(f"{deploy.model_repo} is gated: pick an ungated model (README model table)")
    sha = str(getattr(info, "sha", "") or "")
    if not COMMIT_SHA.match(sha):
        raise PreflightError(
            f"Hugging Face gave no commit sha for {deploy.model_repo}@{deploy.model_revision}"
        )
    return sha


def check_aliases(aliases: str, served_name: str) -> None:
    """Every alias must name the served model (the API refuses to start otherwise)."""
    try:
        ModelCatalog([served_name], parse_aliases(aliases))
    except ValueError as error:
        raise PreflightError(f"MODEL_ALIASES: {error}") from error


def hub_model_info(repo: str, revision: str) -> object:
    from huggingface_hub import HfApi

    return HfApi().model_info(repo, revision=revision)


def preflight(
    env: Mapping[str, str],
    *,
    which: Which = shutil.which,
    run: Run = run_command,
    model_info: Callable[[str, str], object] = hub_model_info,
    scratch: Path | None = None,
    dry_run: bool = False,
) -> Plan:
    """Every check before anything changes (``dry_run``: no remote check, the plan only)."""
    hashes = env.get("ASSISTANTS_API_KEY_HASHES", "")
    if not KEY_ENTRY.match(hashes):
        raise PreflightError(
            "ASSISTANTS_API_KEY_HASHES must be '<sha256 hex>:<tenant>[,...]': python -m infra.api_key_hash "
            "--tenant NAME prints a key and its entry"
        )
    config_env = env.get("SAM_CONFIG_ENV", "default")
    region = env.get("AWS_REGION") or samconfig_value(config_env, "deploy", "region")
    stack_name = env.get("STACK_NAME") or samconfig_value(config_env, "global", "stack_name")
    reserved = int(env.get("STREAM_RESERVED_CONCURRENCY", "50"))
    deploy = WorkerDeploySettings.model_validate(_deploy_values(env))
    skip_worker = env.get("SKIP_WORKER") == "1"
    use_oidc = env.get("USE_MODAL_OIDC", "1") != "0"
    for name, hint in (
        ("sam", "install the AWS SAM CLI"),
        ("aws", "install the AWS CLI"),
        ("modal", "pip install modal (make deploy uses .venv/bin)"),
    ):
        _require_cli(which, name, hint)
    build = choose_sam_build(which, run, scratch=scratch or Path(tempfile.mkdtemp(prefix="sam-python-")))
    notes = [build.note]
    workspace_id = env.get("MODAL_WORKSPACE_ID") or None
    if not dry_run:
        account = check_aws(run, region, reserved)
        notes.append(f"AWS account {account}, region {region}")
        workspace_id = check_modal(run, workspace_id)
        deploy = deploy.model_copy(update={"model_revision": pin_model_revision(deploy, model_info)})
    if use_oidc and not skip_worker and not workspace_id and not dry_run:
        raise PreflightError("no Modal workspace id for the OIDC role: set MODAL_WORKSPACE_ID (ac-...)")
    if not use_oidc and not skip_worker and not env.get("WORKER_AWS_ACCESS_KEY_ID"):
        raise PreflightError(
            "USE_MODAL_OIDC=0 needs WORKER_AWS_ACCESS_KEY_ID and WORKER_AWS_SECRET_ACCESS_KEY (key fallback)"
        )
    if not env.get("WAKE_MODAL_TOKEN_ID"):
        notes.append("no WAKE_MODAL_TOKEN_ID: runs wait for the worker's 1-minute schedule after idle")
    if not COMMIT_SHA.match(deploy.model_revision) and not deploy.bundled:
        notes.append(f"model revision {deploy.model_revision} is pinned to its commit sha at deploy time")
    else:
        notes.append(f"model {deploy.model_repo}@{deploy.model_revision} on {deploy.gpu}")
    check_aliases(env.get("MODEL_ALIASES", ""), deploy.served_name)
    plan = Plan(region, stack_name, deploy, build, workspace_id if use_oidc else None, notes)
    plan.worker_env = {
        **{f"ASSISTANTS_DEPLOY_{name.upper()}": str(value) for name, value in _deploy_dump(deploy).items()},
        "PYTHONPATH": f"{REPO_ROOT / 'functions'}:{REPO_ROOT}",
    }
    plan.steps = ordered_steps(plan, env, skip_worker=skip_worker)
    return plan


def _deploy_values(env: Mapping[str, str]) -> dict[str, str]:
    prefix = "ASSISTANTS_DEPLOY_"
    return {name[len(prefix) :].lower(): value for name, value in env.items() if name.startswith(prefix)}


def _deploy_dump(deploy: WorkerDeploySettings) -> dict[str, object]:
    return {name: value for name, value in deploy.model_dump().items() if value is not None}


def ordered_steps(plan: Plan, env: Mapping[str, str], *, skip_worker: bool) -> list[tuple[str, list[str]]]:
    """The commands, in the order they run (the secret and the model before ``modal deploy``)."""
    config_env = env.get("SAM_CONFIG_ENV", "default")
    parameters = [
        f"Stage={env.get('STAGE', 'prod')}",
        f"ApiKeyHashes={env['ASSISTANTS_API_KEY_HASHES']}",
        f"CorsAllowOrigins={env.get('CORS_ALLOW_ORIGINS', '*')}",
        f"ServedModels={plan.deploy.served_name}",
        f"ModelAliases={env.get('MODEL_ALIASES', '')}",
        f"StreamReservedConcurrency={env.get('STREAM_RESERVED_CONCURRENCY', '50')}",
        f"ModalWorkspaceId={plan.workspace_id or ''}",
        f"ModalEnvironmentName={env.get('MODAL_ENVIRONMENT', 'main')}",
        f"WorkerWakeModalTokenId={env.get('WAKE_MODAL_TOKEN_ID', '')}",
        f"WorkerWakeModalTokenSecret={env.get('WAKE_MODAL_TOKEN_SECRET', '')}",
    ]
    parameters = [parameter for parameter in parameters if not parameter.endswith("=")]  # template defaults
    region = ["--region", plan.region]
    steps: list[tuple[str, list[str]]] = [
        ("validate the template", ["sam", "validate", "--lint", *region]),
        ("build the Lambda code", ["sam", "build", "--config-env", config_env, *plan.build.args]),
        (
            "deploy the AWS stack",
            [
                "sam",
                "deploy",
                "--config-env",
                config_env,
                "--stack-name",
                plan.stack_name,
                *region,
                "--parameter-overrides",
                *parameters,
            ],
        ),
    ]
    if skip_worker:
        return steps
    return [
        *steps,
        (
            "write the worker's Modal secret",
            ["modal", "secret", "create", "--force", plan.deploy.modal_secret_name],
        ),
        ("prepare the model in the Modal Volume", ["modal", "run", "gpu_worker/app.py::prepare_model"]),
        ("deploy the worker", ["modal", "deploy", "gpu_worker/app.py"]),
    ]


SECRET_PARAMETERS = ("ApiKeyHashes=", "WorkerWakeModalTokenSecret=")


def printable(command: Sequence[str]) -> str:
    """The command with secret values masked."""
    shown = []
    for part in command:
        prefix = next((p for p in SECRET_PARAMETERS if part.startswith(p) and len(part) > len(p)), None)
        shown.append(f"{prefix}****" if prefix else part)
    return " ".join(shown)


def stack_outputs(run: Run, plan: Plan) -> dict[str, str]:
    described = run(
        [
            "aws",
            "cloudformation",
            "describe-stacks",
            "--region",
            plan.region,
            "--stack-name",
            plan.stack_name,
            "--query",
            "Stacks[0].Outputs",
            "--output",
            "json",
        ],
        None,
    )
    if described.returncode != 0:
        raise PreflightError(f"cannot read the outputs of stack {plan.stack_name}")
    return {output["OutputKey"]: output["OutputValue"] for output in json.loads(described.stdout) or []}


def secret_entries(outputs: Mapping[str, str], plan: Plan, env: Mapping[str, str]) -> list[str]:
    """The worker's Modal secret: where the resources are, and how it gets AWS credentials (the OIDC role,
    or the key-based fallback)."""
    entries = [
        f"AWS_DEFAULT_REGION={plan.region}",
        f"ASSISTANTS_TABLE_NAME={outputs['TableName']}",
        f"ASSISTANTS_BUCKET_NAME={outputs['BucketName']}",
        f"ASSISTANTS_RUN_QUEUE_URL={outputs['RunQueueUrl']}",
        f"ASSISTANTS_INGESTION_QUEUE_URL={outputs['IngestionQueueUrl']}",  # the ingestion worker's
    ]
    if plan.workspace_id:
        return [*entries, f"ASSISTANTS_AWS_ROLE_ARN={outputs['WorkerRoleArn']}"]
    return [
        *entries,
        f"AWS_ACCESS_KEY_ID={env['WORKER_AWS_ACCESS_KEY_ID']}",
        f"AWS_SECRET_ACCESS_KEY={env['WORKER_AWS_SECRET_ACCESS_KEY']}",
    ]


def execute(plan: Plan, env: Mapping[str, str], extra_sam_args: Sequence[str], run: Run = run_command) -> str:
    """Run the steps in order (interactive: sam shows the change set); returns the API's base URL."""
    path = os.environ.get("PATH", "")
    build_env = {"PATH": f"{plan.build.path_prefix}:{path}"} if plan.build.path_prefix else {}
    outputs: dict[str, str] = {}
    for title, command in plan.steps:
        print(f"==> {title}: {printable(command)}", flush=True)
        full = list(command)
        if command[:2] == ["sam", "deploy"]:
            full += list(extra_sam_args)
        if command[:3] == ["modal", "secret", "create"]:
            outputs = stack_outputs(run, plan)
            full += secret_entries(outputs, plan, env)
        step_env = {**build_env, **(plan.worker_env if command[0] == "modal" else {})}
        if subprocess.run(full, env={**os.environ, **step_env}, cwd=REPO_ROOT, check=False).returncode != 0:
            raise PreflightError(f"step failed: {title} (nothing after it ran)")
    return (outputs or stack_outputs(run, plan)).get("ApiUrl", "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy the stack and the worker (README: Deployment).")
    parser.add_argument("--dry-run", action="store_true", help="print the decisions and steps; run nothing")
    parser.add_argument("sam_args", nargs="*", help="extra `sam deploy` arguments (after --)")
    args = parser.parse_args(argv)
    try:
        plan = preflight(os.environ, dry_run=args.dry_run)
        for note in plan.notes:
            print(f"preflight: {note}")
        if args.dry_run:
            for number, (title, command) in enumerate(plan.steps, start=1):
                print(f"step {number}: {title}: {printable(command)}")
            return 0
        base_url = execute(plan, os.environ, args.sam_args)
    except PreflightError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 2
    print(f"\nDeployed. base_url: {base_url}  (model {plan.deploy.served_name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
