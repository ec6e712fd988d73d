"""The one place that shapes stored run step details for the wire (steps list/retrieve and the
``thread.run.step.*`` events of run streams): a ``file_search`` call's private ``queries`` (kept for the
worker, FILE_SEARCH_CONTRACT.md item 3) never leave the API, and its results carry their ``content`` only
when the request asked for it with ``include[]=step_details.tool_calls[*].file_search.results[*].content``."""

from __future__ import annotations

from typing import Any

FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
STEP_INCLUDES = (FILE_SEARCH_CONTENT,)
_PRIVATE_FILE_SEARCH_FIELDS = frozenset({"queries"})


def _result_to_wire(result: Any, include_content: bool) -> Any:
    if include_content or not isinstance(result, dict):
        return result
    return {key: value for key, value in result.items() if key != "content"}


def _tool_call_to_wire(call: Any, include_content: bool) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("file_search"), dict):
        return call
    search = {
        key: value for key, value in call["file_search"].items() if key not in _PRIVATE_FILE_SEARCH_FIELDS
    }
    if isinstance(search.get("results"), list):
        search["results"] = [_result_to_wire(result, include_content) for result in search["results"]]
    return {**call, "file_search": search}


def step_details_to_wire(step_details: dict[str, Any], *, include_content: bool = False) -> dict[str, Any]:
    """``step_details`` (of a step or a step delta) as the API returns them."""
    tool_calls = step_details.get("tool_calls")
    if not isinstance(tool_calls, list):
        return step_details
    return {**step_details, "tool_calls": [_tool_call_to_wire(call, include_content) for call in tool_calls]}


def step_event_data_to_wire(data: dict[str, Any], *, include_content: bool = False) -> dict[str, Any]:
    """The ``data`` of a ``thread.run.step.*`` event: a step object, or a step delta
    ``{"id", "object": "thread.run.step.delta", "delta": {"step_details": ...}}``."""
    if isinstance(data.get("step_details"), dict):
        return {
            **data,
            "step_details": step_details_to_wire(data["step_details"], include_content=include_content),
        }
    delta = data.get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("step_details"), dict):
        details = step_details_to_wire(delta["step_details"], include_content=include_content)
        return {**data, "delta": {**delta, "step_details": details}}
    return data
