"""Rules for tools, ``tool_choice`` and ``response_format`` that the wire models cannot express: JSON schemas
must be valid schemas, a named ``tool_choice`` must name one of the run's tools, and a tool the server does
not run (``code_interpreter``; ``file_search`` where search is not configured) is refused where it is
declared (assistant, run, thread-and-run, message attachments) unless the deployment opts into ignoring it
(``ToolSupport.ignore_unsupported``). Every failure is an ``InvalidRequestError`` naming the offending
``param``; nothing is written before."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.models import Run

SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Tools the server never runs (the worker has no sandbox to run code in).
NOT_RUN_TOOLS = frozenset({"code_interpreter"})


@dataclass(frozen=True, slots=True)
class ToolSupport:
    """Which declared tools the deployment runs. ``file_search``: search is configured (the API has an
    embedding model). ``ignore_unsupported`` (``ASSISTANTS_IGNORE_UNSUPPORTED_TOOLS``): a declared
    ``code_interpreter`` is stored and echoed back but never run, instead of a 400."""

    file_search: bool = True
    ignore_unsupported: bool = False

    def check(self, tool_type: str | None, *, param: str) -> None:
        """A 400 naming ``param`` when a declared ``tool_type`` is one this deployment does not run."""
        if tool_type in NOT_RUN_TOOLS and not self.ignore_unsupported:
            raise InvalidRequestError(
                f"Invalid '{param}': the '{tool_type}' tool is not supported by this server. Remove it, or "
                "have the deployment set ASSISTANTS_IGNORE_UNSUPPORTED_TOOLS=true to accept it unused.",
                param=param,
                code="unsupported_tool",
            )
        if tool_type == "file_search" and not self.file_search:
            raise InvalidRequestError(
                f"Invalid '{param}': the 'file_search' tool is not available on this server: no embedding "
                "model is configured (ASSISTANTS_EMBEDDING_MODEL_PATH).",
                param=param,
                code="unsupported_tool",
            )


def validate_json_schema(schema: Any, *, param: str) -> None:
    """``schema`` must be a JSON schema object (checked against its draft's meta-schema)."""
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"Invalid '{param}': expected a JSON schema object.", param=param)
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        raise InvalidRequestError(f"Invalid '{param}': {error.message}.", param=param) from None


def validate_tools(
    tools: list[dict[str, Any]], *, prefix: str = "", support: ToolSupport | None = None
) -> None:
    for index, tool in enumerate(tools):
        (support or ToolSupport()).check(tool.get("type"), param=f"{prefix}tools[{index}]")
        parameters = tool.get("function", {}).get("parameters") if tool.get("type") == "function" else None
        if parameters is not None:
            validate_json_schema(parameters, param=f"{prefix}tools[{index}].function.parameters")


def validate_response_format(response_format: Any, *, prefix: str = "") -> None:
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return
    json_schema = response_format.get("json_schema", {})
    name_param = f"{prefix}response_format.json_schema.name"
    if not SCHEMA_NAME.match(str(json_schema.get("name", ""))):
        raise InvalidRequestError(
            f"Invalid '{name_param}': expected 1 to 64 letters, digits, underscores or dashes.",
            param=name_param,
        )
    if json_schema.get("schema") is not None:
        validate_json_schema(json_schema["schema"], param=f"{prefix}response_format.json_schema.schema")


def validate_attachment_tools(
    attachments: list[dict[str, Any]], *, prefix: str = "", support: ToolSupport | None = None
) -> None:
    for index, attachment in enumerate(attachments):
        for tool_index, tool in enumerate(attachment.get("tools") or []):
            param = f"{prefix}attachments[{index}].tools[{tool_index}]"
            (support or ToolSupport()).check(tool.get("type"), param=param)


def validate_tool_choice(tool_choice: Any, tools: list[dict[str, Any]]) -> None:
    if tool_choice == "required" and not any(tool.get("type") == "function" for tool in tools):
        raise InvalidRequestError(
            "Invalid 'tool_choice': 'required' needs at least one function tool.", param="tool_choice"
        )
    if not isinstance(tool_choice, dict):
        return
    if tool_choice.get("type") != "function":
        kind = tool_choice.get("type")
        if kind in NOT_RUN_TOOLS:  # even where the deployment accepts it declared: it cannot be forced
            raise InvalidRequestError(
                f"Invalid 'tool_choice': the '{kind}' tool is not supported by this server.",
                param="tool_choice",
                code="unsupported_tool",
            )
        if not any(tool.get("type") == kind for tool in tools):
            raise InvalidRequestError(
                f"Invalid 'tool_choice': the run's tools have no '{kind}' tool.", param="tool_choice"
            )
        return
    name = (tool_choice.get("function") or {}).get("name")
    names = {tool["function"]["name"] for tool in tools if tool.get("type") == "function"}
    if name not in names:
        raise InvalidRequestError(
            f"Invalid 'tool_choice': no function named '{name}' among the run's tools.", param="tool_choice"
        )


def validate_run_tooling(run: Run, support: ToolSupport | None = None) -> None:
    """The run's effective tools (its own or its assistant's), tool choice and response format."""
    validate_tools(run.tools, support=support)
    validate_tool_choice(run.tool_choice, run.tools)
    validate_response_format(run.response_format)
