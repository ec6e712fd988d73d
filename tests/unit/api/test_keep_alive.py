"""An unhandled error answers 500 in OpenAI's envelope and keeps the keep-alive connection open: one httpx
client sends two requests over one connection to the real app under uvicorn."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from tests.unit.api.conftest import ApiHarness


@pytest.fixture
def served(api: ApiHarness) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(create_app(api.dependencies), log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.01)
            assert thread.is_alive(), "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        listener.close()


def _client_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("socket").getsockname()[1])


def test_an_unhandled_error_answers_500_and_keeps_the_connection(
    api: ApiHarness, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug, not a domain error")

    monkeypatch.setattr(api.dependencies.assistants, "list", broken)
    with httpx.Client(
        base_url=served, headers=api.headers(), limits=httpx.Limits(max_connections=1)
    ) as client:
        failed = client.get("/v1/assistants")
        assert failed.status_code == 500
        assert failed.json()["error"]["type"] == "server_error"
        assert failed.headers.get("connection", "").lower() != "close"
        first_port = _client_port(failed)
        created = client.post("/v1/assistants", json={"model": "m"})
        assert created.status_code == 200, created.text
        assert _client_port(created) == first_port, "the second request needed a new connection"
