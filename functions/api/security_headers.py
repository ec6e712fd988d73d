"""Browser security headers on every response: the playground page gets a strict Content-Security-Policy (its
own scripts and styles only, no inline code, no framing), everything else (JSON, event streams, the OpenAPI
document) a policy that loads nothing. All responses: ``nosniff``, ``X-Frame-Options: DENY`` and
``Referrer-Policy: no-referrer`` (a playground link's ``?base_url=`` must not travel in Referer headers).

There is no Swagger UI page: FastAPI's pulls an unpinned bundle from a CDN (no Subresource Integrity possible)
and runs an inline script, and it would ask for the API key on a page of the API's own origin. The OpenAPI
document stays at ``/v1/openapi.json`` for generators and any documentation viewer run elsewhere."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The playground calls its own server, or (once the user confirms a linked one) any HTTPS server or a
# loopback one (a local stack); never a plain-HTTP remote host, where the key would travel in clear text.
PLAYGROUND_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' https: http://127.0.0.1:* http://localhost:*",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def content_security_policy(path: str, playground_path: str) -> str:
    return PLAYGROUND_CSP if path == playground_path or path.startswith(f"{playground_path}/") else API_CSP


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, playground_path: str) -> None:
        self._app = app
        self._playground_path = playground_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        policy = content_security_policy(scope.get("path", ""), self._playground_path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in {**COMMON_HEADERS, "Content-Security-Policy": policy}.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self._app(scope, receive, send_with_headers)
