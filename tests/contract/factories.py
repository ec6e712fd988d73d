"""Domain objects for the contract tests (fresh time-sortable ids, sensible defaults)."""

from __future__ import annotations

import time
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.models import Assistant, Message, Run, Thread
from assistants_core.domain.status import RunStatus

OWNER = "tenant-a"
OTHER_OWNER = "tenant-b"


def now() -> int:
    return int(time.time())


def make_assistant(owner: str = OWNER, **overrides: Any) -> Assistant:
    fields: dict[str, Any] = {
        "id": ids.new_id(ids.ASSISTANT),
        "owner": owner,
        "created_at": now(),
        "model": "m",
    }
    return Assistant(**{**fields, **overrides})


def make_thread(owner: str = OWNER, **overrides: Any) -> Thread:
    return Thread(**{"id": ids.new_id(ids.THREAD), "owner": owner, "created_at": now(), **overrides})


def text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def make_message(thread: Thread, text: str = "hello", **overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "id": ids.new_id(ids.MESSAGE),
        "owner": thread.owner,
        "thread_id": thread.id,
        "created_at": now(),
        "role": "user",
        "content": text_content(text),
    }
    return Message(**{**fields, **overrides})


def make_run(thread: Thread, assistant_id: str = "asst_x", **overrides: Any) -> Run:
    fields: dict[str, Any] = {
        "id": ids.new_id(ids.RUN),
        "owner": thread.owner,
        "thread_id": thread.id,
        "assistant_id": assistant_id,
        "created_at": now(),
        "status": RunStatus.QUEUED,
        "model": "m",
        "instructions": "be brief",
        "expires_at": now() + 600,
    }
    return Run(**{**fields, **overrides})
