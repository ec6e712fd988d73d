"""The hermes tool-call format, the scripted engine's JSON schema instances and tool-turn planning."""

from __future__ import annotations

import json

import jsonschema
import pytest

from assistants_core.domain.errors import InvalidRequestError
from assistants_core.services.tool_validation import validate_json_schema
from gpu_worker.engines.json_instances import example_value
from gpu_worker.tool_calls import AnsweredCall, HermesToolCallFormat, ParsedCall, tool_call_format


def test_hermes_parses_complete_unterminated_and_skips_malformed_calls() -> None:
    text = (
        'Sure. <tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n'
        "<tool_call>not json</tool_call>"
        '<tool_call>{"name": "b", "arguments": "{\\"y\\": 2}"}'
    )
    assert HermesToolCallFormat().parse(text) == [ParsedCall("a", '{"x": 1}'), ParsedCall("b", '{"y": 2}')]
    assert HermesToolCallFormat().parse("just a reply") == []


def test_hermes_renders_a_turn_the_parser_reads_back() -> None:
    fmt = HermesToolCallFormat()
    call_turn, output = fmt.render_turn([AnsweredCall("lookup", '{"q": "x"}', "found")])
    assert (call_turn.role, output.role, output.content) == ("assistant", "tool", "found")
    assert fmt.parse(call_turn.content) == [ParsedCall("lookup", '{"q": "x"}')]
    assert "at most one function" in fmt.describe_tools([{"name": "lookup"}], parallel=False)


def test_unknown_tool_call_format_is_refused() -> None:
    with pytest.raises(ValueError, match="hermes"):
        tool_call_format("nonexistent")


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 3}, "s": {"type": "string", "minLength": 9}},
        },
        {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2},
        {"anyOf": [{"type": "object", "properties": {"k": {"const": 7}}}, {"type": "null"}]},
        {
            "allOf": [
                {"properties": {"a": {"type": "boolean"}}},
                {"properties": {"b": {"type": ["null", "number"], "exclusiveMaximum": 0}}},
            ]
        },
        {"type": "string", "maxLength": 2},
    ],
)
def test_example_values_validate_against_their_schema(schema: dict[str, object]) -> None:
    jsonschema.validate(example_value(schema, "hello"), schema)


def test_invalid_json_schemas_are_rejected_with_their_param() -> None:
    for schema in ({"type": "nonsense"}, ["not", "an", "object"], {"properties": {"a": {"minimum": "x"}}}):
        with pytest.raises(InvalidRequestError) as rejected:
            validate_json_schema(schema, param="p")
        assert rejected.value.param == "p"
    validate_json_schema(json.loads('{"type": "object", "properties": {}}'), param="p")
