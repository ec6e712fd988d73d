"""What OpenAI documents about its objects and streams that a JSON schema cannot say, checked over everything
the e2e tests saw (``conformance.py`` feeds it every object of every response and event, in order):

- an object's ``created_at`` and its identity fields never change (events, reads, lists all agree);
- ``usage`` is null while a run is not terminal and while a step is in_progress;
- ``completed_at`` / ``failed_at`` / ``cancelled_at`` / ``expired_at`` / ``incomplete_at`` are set exactly on
  the matching status (and ``required_action`` / ``incomplete_details`` likewise);
- an event's name agrees with its object's status;
- event order per stream, after OpenAI's streaming docs: ``thread.run.created`` first (after
  ``thread.created``), run statuses follow the transition table, each step and message goes created ->
  in_progress -> deltas -> its end, a message lives inside its ``message_creation`` step, every step and
  message the stream opened has ended when the run closes (a ``tool_calls`` step waits through
  ``requires_action``), nothing of a run follows its closing event, and a finished stream ends with exactly
  one ``done``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistants_core.domain.status import ALLOWED_TRANSITIONS, RunStatus

# Fields of an object that never change once it exists (besides ``id``).
STABLE_FIELDS = {
    "assistant": ("created_at",),
    "thread": ("created_at",),
    "thread.message": ("created_at", "thread_id", "role", "run_id", "assistant_id"),
    "thread.run": ("created_at", "thread_id", "assistant_id"),
    "thread.run.step": ("created_at", "thread_id", "run_id", "type", "step_details.message_creation"),
}
# timestamp field -> the one status on which it is set.
STATUS_TIMESTAMPS = {
    "thread.run": {"completed_at": "completed", "failed_at": "failed", "cancelled_at": "cancelled"},
    "thread.run.step": {
        "completed_at": "completed",
        "failed_at": "failed",
        "cancelled_at": "cancelled",
        "expired_at": "expired",
    },
    "thread.message": {"completed_at": "completed", "incomplete_at": "incomplete"},
}
STATUS_DETAILS = {
    "thread.run": {"required_action": "requires_action", "incomplete_details": "incomplete"},
    "thread.message": {"incomplete_details": "incomplete"},
}
RUN_CLOSING = {"completed", "incomplete", "failed", "cancelled", "expired", "requires_action"}
PHASES = {"created": 0, "in_progress": 1, "delta": 2}  # anything else: the object's end (3)


@dataclass(frozen=True)
class Broken:
    rule: str
    where: str
    message: str
    origin: str


@dataclass(frozen=True)
class Seen:
    """One object as a response or an event carried it."""

    origin: str
    data: dict[str, Any]
    event: str | None = None


def _field(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def check_objects(seen: Sequence[Seen]) -> Iterator[Broken]:
    first: dict[tuple[str, str], tuple[Any, str]] = {}
    for item in seen:
        data, kind = item.data, item.data.get("object")
        if not isinstance(kind, str) or "id" not in data:
            continue
        for name in STABLE_FIELDS.get(kind, ()):
            key = (data["id"], name)
            value = _field(data, name)
            if key not in first:
                first[key] = (value, item.origin)
            elif first[key][0] != value:
                before, where = first[key]
                yield Broken(
                    "stable", f"{data['id']}.{name}", f"{before!r} ({where}) became {value!r}", item.origin
                )
        yield from _check_status_fields(item, kind)


def _check_status_fields(item: Seen, kind: str) -> Iterator[Broken]:
    data, status = item.data, item.data.get("status")
    if status is None:
        return
    for name, on_status in {**STATUS_TIMESTAMPS.get(kind, {}), **STATUS_DETAILS.get(kind, {})}.items():
        if (data.get(name) is not None) != (status == on_status):
            state = "set" if data.get(name) is not None else "null"
            yield Broken(
                "status_fields", f"{data['id']}.{name}", f"{state} on status {status!r}", item.origin
            )
    usage_must_be_null = (kind == "thread.run" and not RunStatus(status).is_terminal) or (
        kind == "thread.run.step" and status == "in_progress"
    )
    if usage_must_be_null and data.get("usage") is not None:
        yield Broken("usage_null", f"{data['id']}.usage", f"set on status {status!r}", item.origin)
    if item.event is not None:
        yield from _check_event_status(item, status)


def _check_event_status(item: Seen, status: str) -> Iterator[Broken]:
    assert item.event is not None
    suffix = item.event.rsplit(".", 1)[-1]
    expected = {"created": "queued" if item.event == "thread.run.created" else "in_progress"}.get(
        suffix, suffix
    )
    if suffix != "delta" and status != expected:
        yield Broken("event_status", item.data["id"], f"{item.event} carries status {status!r}", item.origin)


def check_stream(origin: str, events: Sequence[tuple[str, Any]], finished: bool) -> Iterator[Broken]:
    names = [name for name, _ in events]
    if finished and (names.count("done") != 1 or names[-1:] != ["done"]):
        yield Broken("order", "done", f"a finished stream must end with one done: {names[-3:]}", origin)
    order = _StreamOrder(events)
    for index, (name, data) in enumerate(events):
        where = f"{origin} event #{index} {name}"
        if name == "thread.created" and index != 0:
            yield Broken("order", name, "thread.created must be the first event", where)
        if name in ("done", "error", "thread.created") or not isinstance(data, dict):
            continue
        if name.startswith("thread.run.step.") or name.startswith("thread.message."):
            yield from order.object_event(index, name, data, where)
        elif name.startswith("thread.run."):
            yield from order.run_event(index, name, data, where)


class _StreamOrder:
    """The state of one stream while its events are walked in order."""

    def __init__(self, events: Sequence[tuple[str, Any]]) -> None:
        self.events = events
        self.first_run_event = 1 if events[:1] and events[0][0] == "thread.created" else 0
        self.phases: dict[str, int] = {}
        self.run_status: str | None = None
        self.closed = False
        self.step_of_message: dict[str, str] = {}
        self.ended_steps: set[str] = set()
        self.step_types: dict[str, str] = {}

    def run_event(self, index: int, name: str, data: dict[str, Any], where: str) -> Iterator[Broken]:
        status = data.get("status")
        if name == "thread.run.created" and index != self.first_run_event:
            yield Broken("order", name, "thread.run.created must open the stream", where)
        previous = self.run_status
        if previous is not None and status != previous and status not in _targets(previous):
            yield Broken("order", data.get("id", ""), f"run went {previous} -> {status}", where)
        self.run_status = status
        # queued / in_progress again: the run continues after tool outputs (a submit_tool_outputs stream)
        self.closed = status in RUN_CLOSING
        for object_id, phase in self.phases.items():
            waits = status == "requires_action" and self.step_types.get(object_id) == "tool_calls"
            if self.closed and phase < 3 and not waits:
                yield Broken("order", object_id, f"still open when the run became {status}", where)

    def object_event(self, index: int, name: str, data: dict[str, Any], where: str) -> Iterator[Broken]:
        if self.closed:
            yield Broken("order", name, "a step or message event after the run's closing event", where)
        object_id = data.get("id", "")
        phase = PHASES.get(name.rsplit(".", 1)[-1], 3)
        if phase < self.phases.get(object_id, -1) or self.phases.get(object_id) == 3:
            yield Broken("order", object_id, f"{name} after a later phase of the same object", where)
        self.phases[object_id] = max(phase, self.phases.get(object_id, -1))
        if name.startswith("thread.run.step."):
            yield from self._step_event(name, data, phase, where)
            return
        step = self.step_of_message.get(object_id)
        if step is None and object_id in _announced_messages(self.events[index:]):
            yield Broken("order", object_id, "a message event before its message_creation step", where)
        if step in self.ended_steps:
            yield Broken("order", object_id, "a message event after its step ended", where)

    def _step_event(self, name: str, data: dict[str, Any], phase: int, where: str) -> Iterator[Broken]:
        if name == "thread.run.step.created" and self.run_status not in (None, "in_progress"):
            yield Broken("order", data["id"], f"a step created while the run is {self.run_status}", where)
        if "type" in data:  # a step object (a step delta carries its type inside ``delta.step_details``)
            self.step_types[data["id"]] = str(data["type"])
        message_id = _field(data, "step_details.message_creation.message_id")
        if message_id:
            self.step_of_message[message_id] = data["id"]
        if phase == 3:
            self.ended_steps.add(data["id"])
            if message_id and self.phases.get(message_id, 3) != 3:
                yield Broken("order", data["id"], "the step ended before its message", where)


def _announced_messages(events: Sequence[tuple[str, Any]]) -> set[str]:
    """Messages whose ``message_creation`` step is created among ``events``."""
    return {
        str(_field(data, "step_details.message_creation.message_id"))
        for name, data in events
        if name == "thread.run.step.created" and isinstance(data, dict)
    }


def _targets(status: str) -> set[str]:
    return {target.value for target in ALLOWED_TRANSITIONS[RunStatus(status)]}
