"""Tool, tool choice and response format wire models (shared by assistants and runs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from assistants_core.schemas.common import RequestModel, omitted_when_none


class FunctionDefinition(RequestModel):
    name: str = Field(max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = omitted_when_none()
    parameters: dict[str, Any] | None = omitted_when_none()
    strict: bool | None = omitted_when_none()


class FunctionTool(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class CodeInterpreterTool(RequestModel):
    type: Literal["code_interpreter"]


class FileSearchRankingOptions(RequestModel):
    score_threshold: float = Field(ge=0, le=1)
    ranker: Literal["auto", "default_2024_08_21"] | None = omitted_when_none()


class FileSearchSettings(RequestModel):
    max_num_results: int | None = omitted_when_none(ge=1, le=50)
    ranking_options: FileSearchRankingOptions | None = omitted_when_none()


class FileSearchTool(RequestModel):
    type: Literal["file_search"]
    file_search: FileSearchSettings | None = omitted_when_none()


Tool = Annotated[FunctionTool | CodeInterpreterTool | FileSearchTool, Field(discriminator="type")]
ToolList = Annotated[list[Tool], Field(max_length=128)]


class JsonSchemaFormat(RequestModel):
    name: str = Field(max_length=64)
    description: str | None = omitted_when_none()
    schema_: dict[str, Any] | None = omitted_when_none(alias="schema")
    strict: bool | None = omitted_when_none()


class TextResponseFormat(RequestModel):
    type: Literal["text"]


class JsonObjectResponseFormat(RequestModel):
    type: Literal["json_object"]


class JsonSchemaResponseFormat(RequestModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormatObject = Annotated[
    TextResponseFormat | JsonObjectResponseFormat | JsonSchemaResponseFormat, Field(discriminator="type")
]
ResponseFormat = Literal["auto"] | ResponseFormatObject


class NamedFunction(RequestModel):
    name: str


class NamedToolChoice(RequestModel):
    type: Literal["function", "code_interpreter", "file_search"]
    function: NamedFunction | None = omitted_when_none()


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice

_tools_adapter: TypeAdapter[list[Tool]] = TypeAdapter(list[Tool])
_response_format_adapter: TypeAdapter[ResponseFormat] = TypeAdapter(ResponseFormat)
_tool_choice_adapter: TypeAdapter[ToolChoice] = TypeAdapter(ToolChoice)


def tools_to_domain(tools: list[Tool]) -> list[dict[str, Any]]:
    return [tool.model_dump(exclude_none=True, by_alias=True) for tool in tools]


def tools_from_domain(tools: list[dict[str, Any]]) -> list[Tool]:
    return _tools_adapter.validate_python(tools)


def option_to_domain(value: Any) -> Any:
    """A response format or tool choice as stored: the literal string, or the object as a plain dict."""
    if isinstance(value, RequestModel):
        return value.model_dump(exclude_none=True, by_alias=True)
    return value


def response_format_from_domain(value: Any) -> ResponseFormat | None:
    return None if value is None else _response_format_adapter.validate_python(value)


def tool_choice_from_domain(value: Any) -> ToolChoice | None:
    return None if value is None else _tool_choice_adapter.validate_python(value)
