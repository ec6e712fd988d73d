"""THE one place that turns every failure of the HTTP API into OpenAI's error envelope
``{"error": {"message", "type", "param", "code"}}``: domain errors, request validation errors (wrong types,
missing fields, unknown arguments, malformed JSON), unknown routes and uncaught exceptions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistants_core.domain.errors import (
    AssistantsError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from assistants_core.schemas.common import ErrorDetail, ErrorResponse

logger = logging.getLogger(__name__)

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
MALFORMED_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)"
)

# Domain error class -> (HTTP status, OpenAI error type, default code). First match wins (subclasses first).
_DOMAIN_ERRORS: Sequence[tuple[type[AssistantsError], int, str, str | None]] = (
    (AuthenticationError, 401, INVALID_REQUEST, "invalid_api_key"),
    (NotFoundError, 404, "not_found_error", None),
    (InvalidRequestError, 400, INVALID_REQUEST, None),
    (ConflictError, 409, "conflict_error", "conflict"),
    # A tenant's quota: OpenAI's request-rate 429 (type "requests"), with Retry-After.
    (QuotaExceededError, 429, "requests", "rate_limit_exceeded"),
    (RateLimitError, 429, "rate_limit_exceeded", "rate_limit_exceeded"),
    (ServiceUnavailableError, 503, "server_error", "service_unavailable"),
)


# What every operation may answer instead of its result, for the OpenAPI document (FastAPI's default 422
# validation response is replaced: validation failures are 400s in this envelope).
DOCUMENTED_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Invalid request (malformed JSON, wrong types, missing fields, a state that forbids it)"),
        (401, "Missing or invalid API key"),
        (404, "Unknown id, or an object of another tenant"),
        (409, "A concurrent change won"),
        (429, "Rate limited"),
        (500, "Server error"),
        (503, "A backing service did not answer in time; retry"),
    )
}
VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop FastAPI's 422 validation responses from an OpenAPI document (``DOCUMENTED_ERRORS`` say what
    is answered instead)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    component_schemas = schema.get("components", {}).get("schemas", {})
    for name in VALIDATION_SCHEMAS:
        component_schemas.pop(name, None)
    return schema


def error_response(
    status: int, message: str, error_type: str, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(message=message, type=error_type, param=param, code=code))
    return JSONResponse(status_code=status, content=body.model_dump())


def domain_error_response(error: AssistantsError) -> JSONResponse:
    for error_class, status, error_type, default_code in _DOMAIN_ERRORS:
        if isinstance(error, error_class):
            response = error_response(
                status, error.message, error_type, param=error.param, code=error.code or default_code
            )
            if isinstance(error, QuotaExceededError):
                response.headers["Retry-After"] = str(error.retry_after_seconds)
            return response
    # StorageError and any other core failure: never leak backend details.
    logger.error("storage failure: %s", error.message)
    return error_response(500, SERVER_ERROR_MESSAGE, "server_error", code="server_error")


def _param_from_location(location: Sequence[Any], body: Any, *, names_missing_field: bool) -> str | None:
    """Turn pydantic's error location into an OpenAI ``param`` path such as ``messages[0].content``.

    The location is walked against the request body itself, so the segments pydantic adds for union members
    (``str``, ``list[...]``) and for discriminator tags (``text``, ``function``) are left out."""
    source, *segments = location
    if source != "body":
        return ".".join(str(segment) for segment in segments) or None
    node = body
    path = ""
    for position, segment in enumerate(segments):
        is_last = position == len(segments) - 1
        if isinstance(segment, int) and isinstance(node, list) and segment < len(node):
            path += f"[{segment}]"
            node = node[segment]
        elif isinstance(node, dict) and segment in node:
            path += f".{segment}" if path else str(segment)
            node = node[segment]
        elif isinstance(node, dict) and is_last and names_missing_field:
            path += f".{segment}" if path else str(segment)
    return path or None


def _validation_error_response(error: RequestValidationError) -> JSONResponse:
    problems = list(error.errors())
    body = getattr(error, "body", None)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(400, MALFORMED_JSON_MESSAGE, INVALID_REQUEST)
    unknown = [problem for problem in problems if problem["type"] == "extra_forbidden"]
    # An unknown argument is reported first (as OpenAI does); otherwise the most specific (deepest) problem.
    problem = unknown[0] if unknown else max(problems, key=lambda candidate: len(candidate["loc"]))
    kind = problem["type"]
    param = _param_from_location(
        problem["loc"], body, names_missing_field=kind in ("missing", "extra_forbidden")
    )
    if kind == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif kind == "missing" and param is None:
        message = "You must provide a JSON body with this request."
    elif kind == "missing":
        message = f"Missing required parameter: '{param}'."
    elif param is None:
        message = f"Invalid request body: {problem['msg']}."
    else:
        message = f"Invalid value for '{param}': {problem['msg']}."
    return error_response(400, message, INVALID_REQUEST, param=param)


class UnhandledErrorMiddleware:
    """Answers an exception that escaped every handler with the 500 envelope and ends the request normally.

    Starlette's own last resort (``ServerErrorMiddleware``) sends the handler's answer and then re-raises,
    so uvicorn logs it as a crash and closes the keep-alive connection: the client's next request on that
    connection fails with a reset (and SDKs retry POSTs). Installed innermost, inside the other middleware.
    An error after the response has started cannot be answered any more and is re-raised."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, send_tracking_start)
        except Exception:
            if started:
                raise
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            response = error_response(500, SERVER_ERROR_MESSAGE, "server_error", code="server_error")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, AssistantsError)
        return domain_error_response(error)

    async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _validation_error_response(error)

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code in (404, 405):
            # Unknown route or method: OpenAI answers 404 "Invalid URL (METHOD /path)".
            return error_response(404, f"Invalid URL ({request.method} {request.url.path})", INVALID_REQUEST)
        return error_response(error.status_code, str(error.detail), INVALID_REQUEST)

    async def on_unexpected_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, SERVER_ERROR_MESSAGE, "server_error", code="server_error")

    app.add_exception_handler(AssistantsError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
    # Added before every other middleware (create_app calls this first), so it sits innermost.
    app.add_middleware(UnhandledErrorMiddleware)
