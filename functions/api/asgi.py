"""The ASGI app built from the environment, for servers that import an app object (uvicorn behind the
Lambda Web Adapter in the streaming function, see functions/run_stream_server.sh)."""

from __future__ import annotations

from api.app import create_app
from api.deps import default_dependencies

app = create_app(default_dependencies())
