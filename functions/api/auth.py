"""API keys: ``Authorization: Bearer <key>``. Keys are configured only as SHA-256 hashes, each mapped to a
tenant (``<sha256 hex>:<tenant>``, comma separated); the tenant becomes the ``owner`` of what it creates.

Only high-entropy keys are accepted: ``sk-`` and at least 32 URL-safe characters, not a repetitive word
(``infra/api_key_hash.py`` generates ``sk-`` + 43 characters of 32 random bytes and refuses to hash anything
weaker). A fast unsalted hash is safe for such keys (2^192+ guesses, whether online or against a leaked hash
list) and keeps each request at one SHA-256; a short user-chosen key would fall to a dictionary in seconds,
so a key outside the policy is refused before it is hashed, even if someone configured its hash by hand
(``ASSISTANTS_ALLOW_WEAK_API_KEYS`` lifts that for the local stack's ``sk-local-dev`` only).
A tenant may have several entries at once: rotating a key is adding the new key's entry, moving clients to
it, then removing the old entry."""

from __future__ import annotations

import hashlib
import hmac
import re

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import domain_error_response
from assistants_core.domain.errors import AssistantsError, AuthenticationError
from assistants_core.services.quotas import TenantQuotas

# Served without a key (the OpenAPI document); everything else under /v1 needs one.
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY)."
)
INVALID_KEY_MESSAGE = "Incorrect API key provided."

API_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_-]{32,256}")
# A key of 32+ random URL-safe characters has ~31 distinct ones (fewer than 16 has odds below 1e-9).
MIN_DISTINCT_KEY_CHARACTERS = 16


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def is_high_entropy_key(api_key: str) -> bool:
    """Whether ``api_key`` looks generated: ``sk-`` + 32..256 URL-safe characters, 16+ of them distinct."""
    return (
        API_KEY_PATTERN.fullmatch(api_key) is not None
        and len(set(api_key.removeprefix("sk-"))) >= MIN_DISTINCT_KEY_CHARACTERS
    )


class ApiKeyAuthenticator:
    def __init__(self, api_key_hashes: str, *, allow_weak_keys: bool = False) -> None:
        self._allow_weak_keys = allow_weak_keys
        self._tenants_by_hash: list[tuple[str, str]] = []
        for entry in filter(None, (raw.strip() for raw in api_key_hashes.split(","))):
            key_hash, separator, tenant = entry.partition(":")
            if not separator or not tenant.strip() or len(key_hash.strip()) != 64:
                raise ValueError("api_key_hashes entries must look like '<sha256 hex>:<tenant>'")
            self._tenants_by_hash.append((key_hash.strip().lower(), tenant.strip()))
        if not self._tenants_by_hash:
            raise ValueError("api_key_hashes configures no key")

    def tenant_for(self, authorization: str | None) -> str:
        """The tenant of the bearer key, or ``AuthenticationError``. Every configured hash is compared in
        constant time, so timing reveals neither which key nor how much of it matched."""
        scheme, _, api_key = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not api_key.strip():
            raise AuthenticationError(MISSING_KEY_MESSAGE)
        if not self._allow_weak_keys and not is_high_entropy_key(api_key.strip()):
            raise AuthenticationError(INVALID_KEY_MESSAGE)
        presented = hash_api_key(api_key.strip())
        tenant: str | None = None
        for key_hash, candidate in self._tenants_by_hash:
            if hmac.compare_digest(presented, key_hash) and tenant is None:
                tenant = candidate
        if tenant is None:
            raise AuthenticationError(INVALID_KEY_MESSAGE)
        return tenant


class ApiKeyMiddleware:
    """Authenticates every ``/v1`` request before routing or body parsing (so a request without a valid key
    is a 401 whatever else is wrong with it), counts it against the tenant's requests per minute (a 429 with
    ``Retry-After`` over the quota: one conditional write per request) and puts the tenant in
    ``request.state.tenant``. CORS preflight never gets here: the CORS middleware, outside this one, answers
    it."""

    def __init__(self, app: ASGIApp, authenticator: ApiKeyAuthenticator, quotas: TenantQuotas) -> None:
        self._app = app
        self._authenticator = authenticator
        self._quotas = quotas

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/") or path in PUBLIC_PATHS:
            await self._app(scope, receive, send)
            return
        try:
            tenant = self._authenticator.tenant_for(Headers(scope=scope).get("authorization"))
            await run_in_threadpool(self._quotas.admit_request, tenant)
        except AssistantsError as error:
            await domain_error_response(error)(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        await self._app(scope, receive, send)


def current_tenant(request: Request) -> str:
    """FastAPI dependency: the caller's tenant id, set by ``ApiKeyMiddleware``."""
    tenant: str = request.state.tenant
    return tenant
