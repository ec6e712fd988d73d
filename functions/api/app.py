"""The FastAPI application: routers under ``/v1``, CORS, and the one error mapper."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.auth import ApiKeyMiddleware
from api.deps import ApiDependencies
from api.errors import DOCUMENTED_ERRORS, document_errors, install_error_handlers
from api.playground import PLAYGROUND_PATH, mount_playground
from api.routers import assistants, messages, models, runs, steps, threads
from api.routers.file_routers import FILE_ROUTERS
from api.security_headers import SecurityHeadersMiddleware

# Headers a browser app may read from responses (the SDKs read request ids and rate-limit hints).
EXPOSED_HEADERS = ["x-request-id", "openai-processing-ms", "retry-after", "openai-version"]


def _document_error_responses(app: FastAPI) -> None:
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(dependencies: ApiDependencies) -> FastAPI:
    app = FastAPI(
        title="Serverless Assistants API",
        version="2",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # no Swagger UI: see api/security_headers.py
        redoc_url=None,
    )
    app.state.dependencies = dependencies
    install_error_handlers(app)
    # ``runs`` before ``threads``: ``POST /threads/runs`` must not be taken for ``POST /threads/{thread_id}``.
    for router in (assistants.router, runs.router, threads.router, messages.router, steps.router):
        app.include_router(router, prefix="/v1", responses=DOCUMENTED_ERRORS)
    app.include_router(models.router, prefix="/v1", responses=DOCUMENTED_ERRORS)
    for router in FILE_ROUTERS:
        app.include_router(router, prefix="/v1", responses=DOCUMENTED_ERRORS)
    mount_playground(app)
    _document_error_responses(app)
    app.add_middleware(ApiKeyMiddleware, authenticator=dependencies.authenticator, quotas=dependencies.quotas)
    # Added last, so outermost: answers preflight before authentication and decorates every response.
    origins = dependencies.cors_allow_origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials="*" not in origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware, playground_path=PLAYGROUND_PATH)
    return app
