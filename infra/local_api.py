"""The API app for uvicorn in the local stack, composed exactly as the Lambda handler composes it
(``api.deps.default_dependencies`` reads the ``ASSISTANTS_*`` variables the local stack sets)."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from api.deps import default_dependencies


def create_local_app() -> FastAPI:
    return create_app(default_dependencies())
