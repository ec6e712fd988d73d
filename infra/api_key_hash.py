"""Print the ``ApiKeyHashes`` entry (``<sha256 hex>:<tenant>``) of an API key; generates a key if none given.

    python -m infra.api_key_hash --tenant acme              # new random key + its entry
    python -m infra.api_key_hash --tenant acme sk-...       # entry for an existing generated key

Join entries of several keys with commas. Only the hash is deployed; hand the key to its user. Only
high-entropy keys are accepted (``sk-`` + 32 or more random URL-safe characters, as generated here): a short
or user-chosen key is refused, since its plain SHA-256 could be reversed with a dictionary (and the API
refuses such keys anyway). Rotation: give the tenant a second entry, move its clients, drop the old entry.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys

from api.auth import hash_api_key, is_high_entropy_key

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
GENERATED_KEY_PREFIX = "sk-"


def generate_api_key() -> str:
    return GENERATED_KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash_entry(api_key: str, tenant: str) -> str:
    """The ``<sha256 hex>:<tenant>`` pair the API's ``ASSISTANTS_API_KEY_HASHES`` expects for this key."""
    if not is_high_entropy_key(api_key.strip()):
        raise ValueError(
            "only generated keys are accepted: 'sk-' and at least 32 random URL-safe characters "
            "(omit the key to generate one)"
        )
    if not TENANT_PATTERN.fullmatch(tenant):
        raise ValueError("a tenant is letters, digits, '_', '.' or '-'")
    return f"{hash_api_key(api_key.strip())}:{tenant}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("api_key", nargs="?", help="an existing key (a new one is generated when omitted)")
    parser.add_argument("--tenant", required=True, help="the tenant that owns what this key creates")
    args = parser.parse_args(argv)
    api_key = args.api_key or generate_api_key()
    try:
        entry = key_hash_entry(api_key, args.tenant)
    except ValueError as error:
        parser.error(str(error))
    if not args.api_key:
        print(f"api key (give to the user, store nowhere else): {api_key}")
    print(f"ApiKeyHashes entry: {entry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
