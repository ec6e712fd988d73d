"""Item <-> domain mappers and key layout of the single table (see template.yaml, resource ``Table``).

Nested JSON values (tools, content parts, errors ...) are stored as JSON strings so numbers inside them keep
their Python types; metadata is a string map; ``usage`` a number map. ``None`` attributes are not stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from enum import Enum
from typing import Any, TypeVar

from assistants_core.domain.models import Assistant, Message, Run, RunStep, Thread, Usage
from assistants_core.domain.status import RunStatus, StepStatus

Item = dict[str, Any]
T = TypeVar("T")

ASSISTANT_SK = "ASST"
THREAD_SK = "THREAD"
MESSAGE_PREFIX = "MSG#"
RUN_PREFIX = "RUN#"
STEP_PREFIX = "STEP#"
ACTIVE_RUN_PARTITION = "ACTIVE_RUN"
ASSISTANTS_INDEX = "GSI1"
# GSI1 is overloaded (single-table design): a message written by a run also carries
# GSI1PK = RUNMSG#<thread_id>#<run_id> / GSI1SK = MSG#<id>, so `list messages?run_id=` is one key condition.
RUN_MESSAGES_INDEX = "GSI1"
ACTIVE_RUNS_INDEX = "GSI2"
_NO_EXPIRY = 10**12 - 1

_ASSISTANT_JSON = frozenset({"tools", "tool_resources", "response_format"})
_THREAD_JSON = frozenset({"tool_resources"})
_MESSAGE_JSON = frozenset({"incomplete_details"})
_MESSAGE_BODY_FIELDS = frozenset({"content", "attachments"})
_RUN_JSON = frozenset(
    {
        "tools",
        "truncation_strategy",
        "tool_choice",
        "response_format",
        "incomplete_details",
        "last_error",
        "required_action",
    }
)
_STEP_JSON = frozenset({"step_details", "last_error"})
_FLOAT_FIELDS = frozenset({"temperature", "top_p", "lease_expires_at", "enqueued_at"})


def assistant_pk(assistant_id: str) -> str:
    return f"ASST#{assistant_id}"


def assistants_of(owner: str) -> str:
    return f"OWNER#{owner}#ASST"


def thread_pk(thread_id: str) -> str:
    return f"THREAD#{thread_id}"


def message_sk(message_id: str) -> str:
    return MESSAGE_PREFIX + message_id


def run_messages_of(thread_id: str, run_id: str) -> str:
    return f"RUNMSG#{thread_id}#{run_id}"


def run_sk(run_id: str) -> str:
    return RUN_PREFIX + run_id


def steps_prefix(run_id: str) -> str:
    return f"{STEP_PREFIX}{run_id}#"


def active_run_sort_key(run_id: str, expires_at: int | None) -> str:
    """Sparse-index sort key: soonest expiry first (runs without expiry last)."""
    return f"{(expires_at if expires_at is not None else _NO_EXPIRY):012d}#{run_id}"


def encode_field(name: str, value: Any, json_fields: frozenset[str]) -> Any:
    """The stored form of one domain attribute (None = not stored / REMOVE)."""
    if value is None:
        return None
    if name in json_fields:
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, Usage):
        return {"prompt_tokens": value.prompt_tokens, "completion_tokens": value.completion_tokens}
    if isinstance(value, Enum):
        return value.value
    return value


def _decode_field(name: str, value: Any, json_fields: frozenset[str]) -> Any:
    if name in json_fields:
        return json.loads(value)
    if name == "usage":
        return Usage(
            prompt_tokens=int(value["prompt_tokens"]), completion_tokens=int(value["completion_tokens"])
        )
    if name in _FLOAT_FIELDS:
        return float(value)
    return value


def _to_attributes(obj: Any, json_fields: frozenset[str], skip: frozenset[str] = frozenset()) -> Item:
    encoded = {
        field.name: encode_field(field.name, getattr(obj, field.name), json_fields)
        for field in fields(obj)
        if field.name not in skip
    }
    return {name: value for name, value in encoded.items() if value is not None}


def _from_attributes(
    cls: type[T], item: Mapping[str, Any], json_fields: frozenset[str], **overrides: Any
) -> T:
    kwargs = {
        field.name: _decode_field(field.name, item[field.name], json_fields)
        for field in fields(cls)  # type: ignore[arg-type]
        if field.name in item and field.name not in overrides
    }
    return cls(**kwargs, **overrides)


# -- assistants -------------------------------------------------------------------------------------------
def assistant_to_item(assistant: Assistant) -> Item:
    return {
        "PK": assistant_pk(assistant.id),
        "SK": ASSISTANT_SK,
        "GSI1PK": assistants_of(assistant.owner),
        "GSI1SK": assistant.id,
        **_to_attributes(assistant, _ASSISTANT_JSON),
    }


def assistant_from_item(item: Mapping[str, Any]) -> Assistant:
    return _from_attributes(Assistant, item, _ASSISTANT_JSON)


# -- threads ----------------------------------------------------------------------------------------------
def thread_to_item(thread: Thread) -> Item:
    return {"PK": thread_pk(thread.id), "SK": THREAD_SK, **_to_attributes(thread, _THREAD_JSON)}


def thread_from_item(item: Mapping[str, Any]) -> Thread:
    return _from_attributes(Thread, item, _THREAD_JSON)


def thread_field(name: str, value: Any) -> Any:
    return encode_field(name, value, _THREAD_JSON)


# -- messages (content + attachments live in a separate JSON body: inline or in S3) -------------------------
def message_body(message: Message) -> str:
    return json.dumps({"content": message.content, "attachments": message.attachments}, separators=(",", ":"))


def message_to_item(message: Message, *, body: str | None, body_key: str | None) -> Item:
    item = {
        "PK": thread_pk(message.thread_id),
        "SK": message_sk(message.id),
        **_to_attributes(message, _MESSAGE_JSON, skip=_MESSAGE_BODY_FIELDS),
        "body": body,
        "body_key": body_key,
    }
    if message.run_id:  # sparse: only a run's messages are in the index
        item["GSI1PK"] = run_messages_of(message.thread_id, message.run_id)
        item["GSI1SK"] = message_sk(message.id)
    return item


def message_from_item(item: Mapping[str, Any], body: str) -> Message:
    parsed = json.loads(body)
    return _from_attributes(
        Message, item, _MESSAGE_JSON, content=parsed["content"], attachments=parsed.get("attachments", [])
    )


# -- runs -------------------------------------------------------------------------------------------------
def run_to_item(run: Run) -> Item:
    item: Item = {"PK": thread_pk(run.thread_id), "SK": run_sk(run.id), **_to_attributes(run, _RUN_JSON)}
    if not run.status.is_terminal:
        item["GSI2PK"] = ACTIVE_RUN_PARTITION
        item["GSI2SK"] = active_run_sort_key(run.id, run.expires_at)
    return item


def run_from_item(item: Mapping[str, Any]) -> Run:
    return _from_attributes(Run, item, _RUN_JSON, status=RunStatus(item["status"]))


def run_field(name: str, value: Any) -> Any:
    """Stored form of one Run attribute (for partial updates)."""
    if name not in {field.name for field in fields(Run)}:
        raise ValueError(f"Run has no attribute {name!r}")
    return encode_field(name, value, _RUN_JSON)


# -- run steps --------------------------------------------------------------------------------------------
def step_to_item(step: RunStep) -> Item:
    return {
        "PK": thread_pk(step.thread_id),
        "SK": steps_prefix(step.run_id) + step.id,
        **_to_attributes(step, _STEP_JSON),
    }


def step_from_item(item: Mapping[str, Any]) -> RunStep:
    return _from_attributes(RunStep, item, _STEP_JSON, status=StepStatus(item["status"]))
