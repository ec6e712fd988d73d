"""Issue 10, security 2 over HTTP: one key may hold at most ``ASSISTANTS_TENANT_MAX_OPEN_STREAMS`` (20) event
streams at once; the next gets OpenAI's 429 with ``Retry-After``, and closing streams (the client goes away)
gives their slots back. No worker runs in this module, so the runs stay queued and their streams open."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import pytest
from openai import OpenAI

from assistants_core.settings import ApiSettings
from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e

CAP = ApiSettings.model_fields["tenant_max_open_streams"].default
SLOT_RELEASE_WAIT_SECONDS = 30


def test_open_streams_per_key_are_capped_and_given_back(local_stack: LocalStackHandle) -> None:
    sdk = OpenAI(base_url=local_stack.base_url, api_key=local_stack.other_api_key, max_retries=0)
    assistant = sdk.beta.assistants.create(model="m")
    runs = [sdk.beta.threads.create_and_run(assistant_id=assistant.id) for _ in range(CAP + 1)]
    headers = {"Authorization": f"Bearer {local_stack.other_api_key}", "OpenAI-Beta": "assistants=v2"}

    def events_url(index: int) -> str:
        return f"{local_stack.base_url}/threads/{runs[index].thread_id}/runs/{runs[index].id}/events"

    try:
        with httpx.Client(headers=headers, timeout=30) as http, ExitStack() as open_streams:
            for index in range(CAP):
                stream = open_streams.enter_context(http.stream("GET", events_url(index)))
                assert stream.status_code == 200
            refused = http.get(events_url(CAP))
            assert refused.status_code == 429
            error = refused.json()["error"]
            assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
            assert int(refused.headers["retry-after"]) > 0
            # Another key is not affected.
            other = {**headers, "Authorization": f"Bearer {local_stack.api_key}"}
            assert http.get(events_url(CAP), headers=other).status_code == 404  # its own 404, not a 429

        # The clients went away: the server ended those streams and gave their slots back.
        with httpx.Client(headers=headers, timeout=30) as http:
            deadline = time.monotonic() + SLOT_RELEASE_WAIT_SECONDS
            while True:
                with http.stream("GET", events_url(CAP)) as stream:
                    if stream.status_code == 200:
                        break
                assert time.monotonic() < deadline, "stream slots were not given back"
                time.sleep(0.2)
    finally:
        for run in runs:
            sdk.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
