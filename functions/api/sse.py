"""Server-Sent Events framing of run event streams, as OpenAI frames them:
``id: <seq>`` (omitted for an event that is not in the log), ``event: <name>``, ``data: <json>``, a blank
line; the stream always ends with ``event: done`` / ``data: [DONE]``. A failure after the response started
is sent as an ``error`` event carrying OpenAI's error envelope (built by ``api.errors``), then ``done``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse, StreamingResponse

from api.errors import SERVER_ERROR_MESSAGE, domain_error_response, error_response
from assistants_core.domain.errors import AssistantsError
from assistants_core.domain.run_events import RunEvent

logger = logging.getLogger(__name__)

DONE_FRAME = "event: done\ndata: [DONE]\n\n"
# No proxy buffering, no caching: events must reach the client as they are written.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}

# The last ``id:`` a reconnecting client saw (browsers' EventSource sends it by itself).
LastEventId = Annotated[int, Header(alias="Last-Event-ID", ge=0)]


def event_frame(event: RunEvent) -> str:
    event_id = f"id: {event.seq}\n" if event.seq > 0 else ""
    data = json.dumps(event.data, separators=(",", ":"))
    return f"{event_id}event: {event.event}\ndata: {data}\n\n"


def _error_frame(response: JSONResponse) -> str:
    return f"event: error\ndata: {bytes(response.body).decode()}\n\n"


async def _frames(events: AsyncIterator[RunEvent]) -> AsyncIterator[str]:
    try:
        async for event in events:
            yield event_frame(event)
    except AssistantsError as error:
        yield _error_frame(domain_error_response(error))
    except Exception:
        logger.exception("run event stream failed")
        yield _error_frame(error_response(500, SERVER_ERROR_MESSAGE, "server_error", code="server_error"))
    yield DONE_FRAME


def event_stream_response(events: AsyncIterator[RunEvent]) -> StreamingResponse:
    return StreamingResponse(_frames(events), media_type="text/event-stream", headers=STREAM_HEADERS)
