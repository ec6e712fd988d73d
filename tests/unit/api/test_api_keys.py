"""Issue 10, security 5: only high-entropy generated keys authenticate or can be turned into a configured
hash; constant-time comparison; rotation with two keys of one tenant."""

from __future__ import annotations

import pytest

import api.auth
from api.auth import ApiKeyAuthenticator, hash_api_key, is_high_entropy_key
from assistants_core.domain.errors import AuthenticationError
from infra.api_key_hash import generate_api_key, key_hash_entry, main

WEAK_KEYS = [
    "sk-local-dev",
    "sk-password123",
    "password",
    "sk-" + "a" * 40,  # long but repetitive
    "sk-" + "ab" * 20,
    "sk-correct-horse-battery-staple",  # 27 characters
    "sk-" + "x" * 31,
    "pk-" + generate_api_key()[3:],  # not the sk- shape
    "sk-" + "é" * 40,  # outside the URL-safe alphabet
]


def test_generated_keys_pass_the_policy_and_user_chosen_ones_do_not() -> None:
    generated = {generate_api_key() for _ in range(200)}
    assert len(generated) == 200 and all(is_high_entropy_key(key) for key in generated)
    assert all(len(key) == 3 + 43 for key in generated)  # sk- + 32 random bytes in URL-safe base64
    for key in WEAK_KEYS:
        assert not is_high_entropy_key(key), key


@pytest.mark.parametrize("weak", WEAK_KEYS)
def test_the_hash_tool_refuses_weak_keys(weak: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="only generated keys"):
        key_hash_entry(weak, "acme")
    with pytest.raises(SystemExit):
        main(["--tenant", "acme", weak])
    assert "ApiKeyHashes entry" not in capsys.readouterr().out


def test_the_hash_tool_generates_a_key_and_its_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    key = out.split("store nowhere else): ", 1)[1].split()[0]
    assert is_high_entropy_key(key)
    assert f"ApiKeyHashes entry: {hash_api_key(key)}:acme" in out


def test_a_weak_key_is_refused_even_when_its_hash_was_configured_by_hand() -> None:
    weak = "sk-password123"
    strict = ApiKeyAuthenticator(f"{hash_api_key(weak)}:acme")
    with pytest.raises(AuthenticationError, match="Incorrect API key provided"):
        strict.tenant_for(f"Bearer {weak}")
    # The local stack's opt-out (ASSISTANTS_ALLOW_WEAK_API_KEYS) accepts it.
    assert ApiKeyAuthenticator(f"{hash_api_key(weak)}:acme", allow_weak_keys=True).tenant_for(
        f"Bearer {weak}"
    )


def test_rotation_two_keys_of_one_tenant_during_the_overlap() -> None:
    old, new = generate_api_key(), generate_api_key()
    overlap = ApiKeyAuthenticator(f"{hash_api_key(old)}:acme,{hash_api_key(new)}:acme")
    assert overlap.tenant_for(f"Bearer {old}") == overlap.tenant_for(f"Bearer {new}") == "acme"
    after = ApiKeyAuthenticator(f"{hash_api_key(new)}:acme")
    assert after.tenant_for(f"Bearer {new}") == "acme"
    with pytest.raises(AuthenticationError):
        after.tenant_for(f"Bearer {old}")


def test_every_configured_hash_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [generate_api_key() for _ in range(3)]
    authenticator = ApiKeyAuthenticator(",".join(f"{hash_api_key(key)}:t{i}" for i, key in enumerate(keys)))
    compared: list[tuple[str, str]] = []
    real = api.auth.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api.auth.hmac, "compare_digest", spy)
    assert authenticator.tenant_for(f"Bearer {keys[0]}") == "t0"
    assert len(compared) == 3  # no early exit on the first match
