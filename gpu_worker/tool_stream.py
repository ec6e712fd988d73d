"""Reading function calls out of a generation while it streams: engine chunks in, events out.

``HermesCallStream`` (the ``hermes`` format: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``)
yields ``TextPiece`` for text that cannot be part of a call, holding back only a tail that could still
become the ``<tool_call>`` marker, then ``CallStarted`` once a call's name is known and ``ArgumentsPiece``
fragments that add up to the canonical arguments string the turn stores (``json_stream``). It reads blocks
the way ``HermesToolCallFormat.parse`` does (a block runs to ``</tool_call>`` or the end of the text; a
block whose body is not a call object is text), so what it streams agrees with what the turn stores in all
but rare malformed cases, which the turn's event stream repairs when the generation ends
(``tool_stream_events``). ``ForcedCallStream`` reads a turn constrained to one bare call object.

Pure: no I/O, no clock; ``feed`` and ``finish`` return the events in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from gpu_worker.json_stream import WHITESPACE, InvalidJsonError, JsonCanonicalizer, JsonStringDecoder

HERMES_OPEN = "<tool_call>"
HERMES_CLOSE = "</tool_call>"


@dataclass(frozen=True, slots=True)
class TextPiece:
    text: str


@dataclass(frozen=True, slots=True)
class CallStarted:
    """Call ``index`` (counting the call blocks of the generation) is named ``name``."""

    index: int
    name: str


@dataclass(frozen=True, slots=True)
class ArgumentsPiece:
    index: int
    fragment: str


CallEvent = TextPiece | CallStarted | ArgumentsPiece


class CallStreamParser(Protocol):
    def feed(self, text: str) -> list[CallEvent]:
        """Events that ``text`` (the next engine chunk) makes certain."""

    def finish(self) -> list[CallEvent]:
        """The generation ended: what was held back and is now certain (text that never became a marker)."""


def held_marker_prefix(text: str, marker: str) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of ``marker`` (0 when none)."""
    for length in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-length:]):
            return length
    return 0


class CallObjectReader:
    """Reads one ``{"name": str, "arguments": object | JSON-encoded string, ...}`` object, streaming the
    arguments canonically once the name is known. ``done`` after its closing brace; ``invalid`` once it
    cannot be a call object (``parse_call_object`` would refuse it)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.done = False
        self.invalid = False
        self.name: str | None = None
        self._started = False  # the opening brace was read
        self._expect = "key"  # key | colon | value | comma_or_end
        self._first_member = True
        self._string: JsonStringDecoder | None = None  # a key, the name or a JSON-encoded arguments string
        self._string_text = ""
        self._string_role = ""  # key | name | arguments
        self._key = ""
        self._value: JsonCanonicalizer | None = None
        self._arguments_seen = False
        self._pending_arguments: list[str] = []  # canonical arguments read before the name

    def feed(self, text: str) -> tuple[list[CallEvent], int]:
        """Events and the number of characters of ``text`` read (all of them, unless the object ended or
        turned out not to be a call object first)."""
        events: list[CallEvent] = []
        position = 0
        try:
            while position < len(text) and not self.done:
                position += self._feed_from(text[position:], events)
        except InvalidJsonError:
            self.invalid = True
        return events, position

    def _feed_from(self, text: str, events: list[CallEvent]) -> int:
        if self._value is not None:
            output, used = self._value.feed(text)
            if self._key == "arguments" and output:
                self._emit_arguments(output, events)
            if self._value.done:  # ``used`` may be 0: a number ended at the next character
                self._value, self._expect = None, "comma_or_end"
            return used
        char = text[0]
        if self._string is not None:
            self._read_string(char, events)
        elif char in WHITESPACE:
            pass
        elif not self._started:
            if char != "{":
                raise InvalidJsonError("a call object starts with {")
            self._started = True
        else:
            self._feed_structure(char, events)
        return 1

    def _feed_structure(self, char: str, events: list[CallEvent]) -> None:
        if self._expect == "key" and char == '"':
            self._first_member = False
            self._start_string("key")
        elif self._expect == "key" and char == "}" and self._first_member:
            self._close(events)
        elif self._expect == "colon" and char == ":":
            self._expect = "value"
        elif self._expect == "value":
            self._start_value(char, events)
        elif self._expect == "comma_or_end" and char == ",":
            self._expect = "key"
        elif self._expect == "comma_or_end" and char == "}":
            self._close(events)
        else:
            raise InvalidJsonError(f"unexpected {char!r} in a call object")

    def _start_string(self, role: str) -> None:
        self._string, self._string_text, self._string_role = JsonStringDecoder(), "", role

    def _start_value(self, char: str, events: list[CallEvent]) -> None:
        if self._key == "name":
            if char != '"':
                raise InvalidJsonError("a call's name is a string")
            self._start_string("name")
            return
        if self._key == "arguments":
            if char == '"':
                self._start_string("arguments")
                return
            if char != "{":
                raise InvalidJsonError("a call's arguments are an object")
            self._arguments_seen = True
        self._value = JsonCanonicalizer()
        output, _ = self._value.feed(char)
        if self._key == "arguments":
            self._emit_arguments(output, events)

    def _read_string(self, char: str, events: list[CallEvent]) -> None:
        assert self._string is not None
        self._string_text += self._string.feed(char)
        if not self._string.done:
            return
        self._string, text = None, self._string_text
        if self._string_role == "key":
            self._key, self._expect = text, "colon"
            return
        self._expect = "comma_or_end"
        if self._string_role == "name":
            self._set_name(text, events)
            return
        # A JSON-encoded arguments string: decoded whole, re-encoded as one fragment.
        try:
            arguments = json.loads(text)
        except ValueError:
            raise InvalidJsonError("arguments string is not JSON") from None
        if not isinstance(arguments, dict):
            raise InvalidJsonError("arguments string is not a JSON object")
        self._arguments_seen = True
        self._emit_arguments(json.dumps(arguments, ensure_ascii=False), events)

    def _set_name(self, name: str, events: list[CallEvent]) -> None:
        if self.name is not None:
            raise InvalidJsonError("a second name")  # json.loads keeps the last: the final parse decides
        self.name = name
        events.append(CallStarted(self.index, name))
        if self._pending_arguments:
            events.append(ArgumentsPiece(self.index, "".join(self._pending_arguments)))
            self._pending_arguments.clear()

    def _emit_arguments(self, fragment: str, events: list[CallEvent]) -> None:
        if self.name is None:
            self._pending_arguments.append(fragment)
        elif fragment:
            events.append(ArgumentsPiece(self.index, fragment))

    def _close(self, events: list[CallEvent]) -> None:
        if self.name is None:
            raise InvalidJsonError("a call object without a name")
        if not self._arguments_seen:
            events.append(ArgumentsPiece(self.index, "{}"))
        self.done = True


class HermesCallStream:
    """``<tool_call>`` blocks out of free text (see the module docstring)."""

    def __init__(self, first_index: int = 0) -> None:
        self._mode = "text"  # text | body | after_object | not_a_call
        self._held = ""  # text mode: a tail that may become the marker; body mode: the block's raw text
        self._tail = ""  # after_object / not_a_call: characters that may start the closing marker
        self._calls = first_index  # blocks that were named so far
        self._reader: CallObjectReader | None = None

    def feed(self, text: str) -> list[CallEvent]:
        events: list[CallEvent] = []
        while text:
            if self._mode == "text":
                text = self._feed_text(text, events)
            elif self._mode == "body":
                text = self._feed_body(text, events)
            elif self._mode == "after_object":
                text = self._feed_after_object(text)
            else:
                text = self._feed_not_a_call(text, events)
        return events

    def finish(self) -> list[CallEvent]:
        """Held-back text that never became a marker, and a block cut off before its name, are text."""
        unnamed_block = self._mode == "body" and self._reader is not None and self._reader.name is None
        held, self._held = self._held, ""
        return [TextPiece(held)] if held and (self._mode == "text" or unnamed_block) else []

    def _feed_text(self, text: str, events: list[CallEvent]) -> str:
        buffer = self._held + text
        start = buffer.find(HERMES_OPEN)
        if start < 0:
            keep = held_marker_prefix(buffer, HERMES_OPEN)
            _emit_text(buffer[: len(buffer) - keep], events)
            self._held = buffer[len(buffer) - keep :]
            return ""
        _emit_text(buffer[:start], events)
        self._held, self._mode = HERMES_OPEN, "body"
        self._reader = CallObjectReader(self._calls)
        return buffer[start + len(HERMES_OPEN) :]

    def _feed_body(self, text: str, events: list[CallEvent]) -> str:
        assert self._reader is not None
        found, used = self._reader.feed(text)
        self._held += text[:used]
        events.extend(found)
        if self._reader.invalid:
            # Not a call: what did not stream as one is text, and so is the rest of the block.
            if self._reader.name is None:
                _emit_text(self._held, events)
            else:
                self._calls += 1
            self._held, self._tail, self._mode = "", "", "not_a_call"
        elif self._reader.done:
            self._calls += 1
            self._held, self._tail, self._mode = "", "", "after_object"
        return text[used:]

    def _feed_after_object(self, text: str) -> str:
        """Only whitespace may come between a call object and its closing marker (or the end)."""
        rest = (self._tail + text).lstrip(WHITESPACE)
        self._tail = ""
        if rest.startswith(HERMES_CLOSE):
            self._mode = "text"
            return rest[len(HERMES_CLOSE) :]
        if HERMES_CLOSE.startswith(rest):
            self._tail = rest
            return ""
        self._mode = "not_a_call"  # ``parse_call_object`` refuses text after the object
        return rest

    def _feed_not_a_call(self, text: str, events: list[CallEvent]) -> str:
        """Everything up to the block's closing marker is text."""
        buffer = self._tail + text
        end = buffer.find(HERMES_CLOSE)
        if end < 0:
            _emit_text(text, events)
            self._tail = buffer[-(len(HERMES_CLOSE) - 1) :]
            return ""
        consumed = end + len(HERMES_CLOSE) - len(self._tail)
        _emit_text(text[:consumed], events)
        self._mode, self._tail = "text", ""
        return text[consumed:]


def _emit_text(text: str, events: list[CallEvent]) -> None:
    if text:
        events.append(TextPiece(text))


class ForcedCallStream:
    """A turn constrained to one bare call object (``tool_choice`` required or naming a function). Output
    that is not a call object is read again as ``hermes`` text, as ``ToolTurn.parse`` falls back."""

    def __init__(self) -> None:
        self._reader = CallObjectReader(0)
        self._raw: list[str] = []
        self._fallback: HermesCallStream | None = None

    def feed(self, text: str) -> list[CallEvent]:
        if self._fallback is not None:
            return self._fallback.feed(text)
        self._raw.append(text)
        found, used = self._reader.feed(text)
        if self._reader.invalid or (self._reader.done and text[used:].strip(WHITESPACE)):
            self._fallback = HermesCallStream(first_index=1)
            return self._fallback.feed("".join(self._raw))
        return found

    def finish(self) -> list[CallEvent]:
        return self._fallback.finish() if self._fallback is not None else []
