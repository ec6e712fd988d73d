"""Issue 10, security 1: a crafted ``?base_url=`` must never make the playground send a request (and the API
key) to another origin before the user confirms that server. The page is served by the API (same origin as
its own ``/v1``); every request to another origin is recorded by a Playwright route in Chromium, and a second
loopback server (the "trap") records what reaches it. Each malformed form that URL parsers disagree on is
tried: ``http:host`` (which resolves against the page but fetches another host), ``//host``, ``\\\\host``,
``/\\host``, mixed-case schemes, userinfo, whitespace inside, IDN hosts, non-http schemes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser.conftest import BrowserRuntime, run_driver
from tests.e2e.conftest import HOST, LocalStackHandle

pytestmark = pytest.mark.e2e

DRIVER_TIMEOUT_SECONDS = 240
IDN_HOST = "\u0435xample.com"  # a Cyrillic small letter ie, then "xample.com": a look-alike
IDN_ASCII = IDN_HOST.encode("idna").decode()


class Trap:
    """A loopback HTTP server on another port that records every request reaching it."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                trap.requests.append((self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.end_headers()
                self.wfile.write(b'{"object": "list", "data": [], "has_more": false}')

            def do_GET(self) -> None:
                self._record()

            def do_POST(self) -> None:
                self._record()

            def do_OPTIONS(self) -> None:
                self._record()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    server = Trap()
    thread = threading.Thread(target=server.server.serve_forever, name="trap", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        thread.join(timeout=10)
        server.server.server_close()


def _probe(runtime: BrowserRuntime, **options: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = run_driver(
        runtime, "probe_base_urls.mjs", options, timeout=DRIVER_TIMEOUT_SECONDS
    )
    return results


def test_a_crafted_base_url_sends_nothing_to_another_origin_until_confirmed(
    browser_runtime: BrowserRuntime, playground_stack: LocalStackHandle, trap: Trap
) -> None:
    page_origin = playground_stack.base_url.removesuffix("/v1")
    page_authority = page_origin.removeprefix("http://")
    trap_authority = f"{HOST}:{trap.port}"
    # base_url -> the server the page must show (None: not an http(s) URL it can use at all).
    foreign: dict[str, str | None] = {
        f"http:{trap_authority}/v1": f"http://{trap_authority}/v1",
        f"HTTP:{trap_authority}/v1": f"http://{trap_authority}/v1",
        "http:evil.example/v1": "http://evil.example/v1",
        "hTtP:evil.example/v1": "http://evil.example/v1",
        "https:evil.example/v1": "https://evil.example/v1",
        f"//{trap_authority}/v1": f"http://{trap_authority}/v1",
        f"\\\\{trap_authority}/v1": f"http://{trap_authority}/v1",
        f"/\\{trap_authority}/v1": f"http://{trap_authority}/v1",
        "\\/evil.example/v1": "http://evil.example/v1",
        f"http://{trap_authority}/v1": f"http://{trap_authority}/v1",
        f"http://{page_authority}@{trap_authority}/v1": None,  # userinfo: the host is the trap
        f"http://{page_authority}@evil.example/v1": None,
        " http:evil.example/v1": "http://evil.example/v1",
        "\thttp:evil.example/v1": "http://evil.example/v1",
        "http://evil.\texample/v1": "http://evil.example/v1",
        "http://evil.exa\nmple/v1": "http://evil.example/v1",
        f"http://{IDN_HOST}/v1": f"http://{IDN_ASCII}/v1",
        "http://EVIL.Example/v1": "http://evil.example/v1",
        "javascript:alert(1)//": None,
        "data:text/plain,x": None,
    }
    own = {"/v1": playground_stack.base_url, f"HTTP://{page_authority.upper()}/v1": playground_stack.base_url}
    confirm = f"http:{trap_authority}/v1"
    results = _probe(
        browser_runtime,
        pageUrl=f"{page_origin}/playground/",
        apiKey=playground_stack.api_key,
        baseUrls=[*foreign, *own],
        confirm=[confirm],
    )
    by_url = {result["baseUrl"]: result for result in results}
    for base_url, shown_server in foreign.items():
        result = by_url[base_url]
        assert result["foreignBeforeConfirm"] == [], base_url  # no request, so no key, left the page
        assert result["noticeVisible"], base_url
        assert result["pageErrors"] == [], base_url
        if shown_server is None:
            assert not result["useButtonVisible"], base_url
        else:
            # The page shows the server exactly as the URL parser resolves it: what it would really call.
            assert result["field"] == shown_server and result["noticeServer"] == shown_server, base_url
            assert result["useButtonVisible"], base_url
    for base_url, server in own.items():
        result = by_url[base_url]
        assert result["field"] == server and not result["noticeVisible"], base_url
        assert result["foreignBeforeConfirm"] == [], base_url

    # Once confirmed, the page calls exactly the server it showed (the trap), with the key.
    after = by_url[confirm]["foreignAfterConfirm"]
    assert after and all(request["url"].startswith(f"http://{trap_authority}/v1/") for request in after)
    assert all(request["authorization"] == f"Bearer {playground_stack.api_key}" for request in after)
    # The trap saw only those confirmed requests (CORS preflights included), nothing before.
    assert trap.requests and all(
        authorization in (None, f"Bearer {playground_stack.api_key}") for _, authorization in trap.requests
    )
    keyed = [path for path, authorization in trap.requests if authorization]
    assert len(keyed) == sum(1 for request in after if request["authorization"])
