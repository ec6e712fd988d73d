"""Rules for a run's function tools, ``tool_choice`` and ``response_format`` that the wire models cannot
express: JSON schemas must be valid schemas, a named ``tool_choice`` must name one of the run's functions.
Every failure is an ``InvalidRequestError`` naming the offending ``param``; nothing is written before."""

from __future__ import annotations

import re
from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.models import Run

SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def validate_json_schema(schema: Any, *, param: str) -> None:
    """``schema`` must be a JSON schema object (checked against its draft's meta-schema)."""
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"Invalid '{param}': expected a JSON schema object.", param=param)
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        raise InvalidRequestError(f"Invalid '{param}': {error.message}.", param=param) from None


def validate_tools(tools: list[dict[str, Any]], *, prefix: str = "") -> None:
    for index, tool in enumerate(tools):
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


def validate_tool_choice(tool_choice: Any, tools: list[dict[str, Any]]) -> None:
    if tool_choice == "required" and not any(tool.get("type") == "function" for tool in tools):
        raise InvalidRequestError(
            "Invalid 'tool_choice': 'required' needs at least one function tool.", param="tool_choice"
        )
    if not isinstance(tool_choice, dict) or tool_choice.get("type") != "function":
        return
    name = (tool_choice.get("function") or {}).get("name")
    names = {tool["function"]["name"] for tool in tools if tool.get("type") == "function"}
    if name not in names:
        raise InvalidRequestError(
            f"Invalid 'tool_choice': no function named '{name}' among the run's tools.", param="tool_choice"
        )


def validate_run_tooling(run: Run) -> None:
    """The run's effective tools (its own or its assistant's), tool choice and response format."""
    validate_tools(run.tools)
    validate_tool_choice(run.tool_choice, run.tools)
    validate_response_format(run.response_format)
