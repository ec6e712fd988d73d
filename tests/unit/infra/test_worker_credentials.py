"""The worker's AWS credentials come from Modal's OIDC token through boto3's web-identity chain; static keys,
when configured, stay the fallback."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from moto import mock_aws

from assistants_core.adapters import aws
from assistants_core.adapters.aws import make_aws_clients, web_identity_variables
from assistants_core.settings import WorkerSettings

ROLE_ARN = "arn:aws:iam::123456789012:role/serverless-assistants-WorkerRole"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtb2RhbDp3b3Jrc3BhY2VfaWQ6YWMtMTIzIn0.c2ln"


def _settings(**values: str) -> WorkerSettings:
    return WorkerSettings(table_name="t", bucket_name="b", run_queue_url="q", model_path="/m", **values)  # type: ignore[arg-type]


@pytest.fixture
def no_static_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setattr(aws.tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path


def test_settings_read_the_modal_identity_token_and_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODAL_IDENTITY_TOKEN", TOKEN)
    monkeypatch.setenv("ASSISTANTS_AWS_ROLE_ARN", ROLE_ARN)
    settings = _settings()
    assert settings.web_identity_token == TOKEN
    assert settings.aws_role_arn == ROLE_ARN
    assert TOKEN not in repr(settings)


def test_token_file_is_private_and_variables_name_it(tmp_path: Path) -> None:
    variables = web_identity_variables(ROLE_ARN, TOKEN, tmp_path / "t")
    token_file = Path(variables["AWS_WEB_IDENTITY_TOKEN_FILE"])
    assert token_file.read_text() == TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert variables["AWS_ROLE_ARN"] == ROLE_ARN
    assert variables["AWS_ROLE_SESSION_NAME"].startswith("assistants-worker-")


def test_clients_assume_the_role_with_the_identity_token(no_static_keys: Path) -> None:
    with mock_aws(), pytest.MonkeyPatch.context() as inside:
        # mock_aws sets fake static keys (and removes them on exit); a Modal container has none.
        inside.delenv("AWS_ACCESS_KEY_ID")
        inside.delenv("AWS_SECRET_ACCESS_KEY")
        clients = make_aws_clients(_settings(aws_role_arn=ROLE_ARN, MODAL_IDENTITY_TOKEN=TOKEN))
        credentials = clients.sqs._request_signer._credentials
        assert credentials.method == "assume-role-with-web-identity"
        frozen = credentials.get_frozen_credentials()  # calls STS AssumeRoleWithWebIdentity (moto)
        assert frozen.access_key and frozen.token
    assert (no_static_keys / "assistants-aws" / "web-identity-token").read_text() == TOKEN


@mock_aws
def test_static_keys_are_the_fallback(no_static_keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFALLBACK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    clients = make_aws_clients(_settings(aws_role_arn=ROLE_ARN, MODAL_IDENTITY_TOKEN=TOKEN))
    credentials = clients.sqs._request_signer._credentials
    assert credentials.method == "env"
    assert credentials.access_key == "AKIAFALLBACK"


@mock_aws
def test_without_a_role_nothing_changes(no_static_keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCAL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    make_aws_clients(_settings(MODAL_IDENTITY_TOKEN=TOKEN))
    assert not (no_static_keys / "assistants-aws").exists()
