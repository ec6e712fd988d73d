"""The one error hierarchy of the core. Entry points map these to OpenAI's error envelope in one place."""

from __future__ import annotations


class AssistantsError(Exception):
    """Base of every error the core raises on purpose. ``param`` names the offending request field."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequestError(AssistantsError):
    """The request is malformed or not allowed in the current state (HTTP 400)."""


class AuthenticationError(AssistantsError):
    """Missing or unknown API key (HTTP 401)."""


class NotFoundError(AssistantsError):
    """The object does not exist or belongs to another tenant (HTTP 404)."""

    def __init__(self, kind: str, object_id: str, *, param: str | None = None) -> None:
        super().__init__(f"No {kind} found with id '{object_id}'.", param=param, code=None)
        self.kind = kind
        self.object_id = object_id


class ThreadBusyError(InvalidRequestError):
    """A thread already has an active run (OpenAI answers 400)."""

    def __init__(self, thread_id: str, run_id: str | None, action: str) -> None:
        run = f" {run_id}" if run_id else ""
        super().__init__(f"Can't {action} {thread_id} while a run{run} is active.", param="thread_id")
        self.thread_id = thread_id
        self.run_id = run_id


class InvalidRunStateError(InvalidRequestError):
    """The run's status does not allow this operation (e.g. cancelling a completed run)."""


class ConflictError(AssistantsError):
    """A concurrent change won the race (conditional write lost); safe to retry (HTTP 409)."""


class RunSlotTakenError(ConflictError):
    """The active-run quota slot a new run was to take is held by another run (the create took nothing)."""


class RateLimitError(AssistantsError):
    """The backing store throttled us (HTTP 429)."""


class QuotaExceededError(RateLimitError):
    """A per-tenant quota (requests per minute, active runs, open streams) is used up (HTTP 429, OpenAI's
    ``type: requests``); ``retry_after_seconds`` becomes the ``Retry-After`` header."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, code="rate_limit_exceeded")
        self.retry_after_seconds = retry_after_seconds


class StorageError(AssistantsError):
    """An unexpected failure of a backing service (HTTP 500); never carries backend details."""


class ServiceUnavailableError(StorageError):
    """A backing service did not answer in time, after retries (HTTP 503); safe to retry."""
