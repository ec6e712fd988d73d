"""What a client following a run's events holds at the end, accumulated as the openai SDK's
``AssistantEventHandler`` accumulates them: ``thread.message.created`` / ``thread.run.step.created`` reset
a message / step, deltas are merged (strings appended, list entries matched by ``index``)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assistants_core.domain.run_events import RunEvent


def merge_delta(snapshot: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """The SDK's ``accumulate_delta``: strings are appended, ``index``/``type`` replaced, lists of
    ``index``-ed entries merged entry by entry, anything else replaced."""
    for key, value in delta.items():
        current = snapshot.get(key)
        if key in ("index", "type") or current is None:
            snapshot[key] = copy.deepcopy(value)
        elif isinstance(current, str) and isinstance(value, str):
            snapshot[key] = current + value
        elif isinstance(current, dict) and isinstance(value, dict):
            merge_delta(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            for entry in value:
                index = entry["index"]
                if index < len(current):
                    merge_delta(current[index], entry)
                else:
                    current.insert(index, copy.deepcopy(entry))
        else:
            snapshot[key] = copy.deepcopy(value)
    return snapshot


@dataclass
class StreamView:
    names: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # message id -> accumulated text
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # step id -> accumulated step
    text_deltas: list[str] = field(default_factory=list)

    def calls(self, step_id: str) -> list[tuple[str, str, str]]:
        """(id, name, arguments) of each call the step accumulated."""
        calls = self.steps[step_id]["step_details"].get("tool_calls", [])
        return [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls]

    def tool_steps(self) -> list[str]:
        return [sid for sid, step in self.steps.items() if step["type"] == "tool_calls"]


def view_of(events: Sequence[RunEvent]) -> StreamView:
    view = StreamView()
    for event in events:
        view.names.append(event.event)
        data = event.data
        if event.event == "thread.message.created":
            view.texts[data["id"]] = ""
        elif event.event == "thread.message.delta":
            text = "".join(part["text"]["value"] for part in data["delta"]["content"])
            view.texts[data["id"]] += text
            view.text_deltas.append(text)
        elif event.event == "thread.run.step.created":
            view.steps[data["id"]] = copy.deepcopy(data)
        elif event.event == "thread.run.step.delta":
            merge_delta(view.steps[data["id"]], data["delta"])
        elif event.event.startswith("thread.run.step.") and data["id"] in view.steps:
            view.steps[data["id"]]["status"] = data["status"]
    return view


def required_calls(run_data: dict[str, Any]) -> list[tuple[str, str, str]]:
    calls = run_data["required_action"]["submit_tool_outputs"]["tool_calls"]
    return [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls]
