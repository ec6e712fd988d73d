"""How the served model sees and emits function calls: the tool description added to the system prompt,
the rendering of earlier calls and their outputs, and the parser of calls out of generated text.

Pluggable per model (``WorkerSettings.tool_call_format``). ``hermes`` is the format of Hermes/Qwen-style
ChatML models, SmolLM2-Instruct included: calls are
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (the format vLLM's ``hermes`` tool
parser reads). SmolLM2's chat template has no ``tools`` variable, so the tools are described in the system
prompt and results are sent as ``tool`` role turns, which a ChatML template renders like any other role.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gpu_worker.engines.base import ChatMessage
from gpu_worker.tool_stream import CallStreamParser, HermesCallStream

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """A function call read from generated text; ``arguments`` is a JSON object encoded as a string."""

    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    """An earlier call of this run with the output the client submitted for it."""

    name: str
    arguments: str
    output: str


class ToolCallFormat(Protocol):
    def describe_tools(self, functions: Sequence[JSONDict], *, parallel: bool) -> str:
        """System prompt text offering ``functions`` (OpenAI ``function`` objects) to the model."""

    def render_turn(self, calls: Sequence[AnsweredCall]) -> list[ChatMessage]:
        """The assistant turn that made ``calls``, then one message per output."""

    def parse(self, text: str) -> list[ParsedCall]:
        """The calls in ``text`` (empty when it is a plain reply)."""

    def stream_parser(self) -> CallStreamParser:
        """Reads calls out of the text while it is generated, as ``parse`` reads them (``tool_stream``)."""


def parse_call_object(raw: str) -> ParsedCall | None:
    """``{"name": str, "arguments": object}`` (arguments may also be a JSON-encoded object); else None."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ParsedCall(value["name"], json.dumps(arguments, ensure_ascii=False))


class HermesToolCallFormat:
    CALL_PATTERN = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)

    def describe_tools(self, functions: Sequence[JSONDict], *, parallel: bool) -> str:
        signatures = "\n".join(json.dumps({"type": "function", "function": f}) for f in functions)
        how_many = "one or more functions" if parallel else "at most one function"
        return (
            f"You may call {how_many} to assist with the user query.\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n"
            f"<tools>\n{signatures}\n</tools>\n"
            "For each function call, return a json object with function name and arguments within "
            "<tool_call></tool_call> XML tags:\n"
            '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
        )

    def render_turn(self, calls: Sequence[AnsweredCall]) -> list[ChatMessage]:
        blocks = [
            "<tool_call>\n"
            + json.dumps({"name": call.name, "arguments": json.loads(call.arguments or "{}")})
            + "\n</tool_call>"
            for call in calls
        ]
        return [ChatMessage("assistant", "\n".join(blocks))] + [
            ChatMessage("tool", call.output) for call in calls
        ]

    def parse(self, text: str) -> list[ParsedCall]:
        calls = (parse_call_object(body.strip()) for body in self.CALL_PATTERN.findall(text))
        return [call for call in calls if call is not None]

    def stream_parser(self) -> CallStreamParser:
        return HermesCallStream()


TOOL_CALL_FORMATS: dict[str, type[HermesToolCallFormat]] = {"hermes": HermesToolCallFormat}


def tool_call_format(name: str) -> ToolCallFormat:
    try:
        return TOOL_CALL_FORMATS[name]()
    except KeyError:
        known = ", ".join(sorted(TOOL_CALL_FORMATS))
        raise ValueError(f"unknown tool call format {name!r} (known: {known})") from None
