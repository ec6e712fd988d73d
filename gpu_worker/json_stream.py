"""Incremental JSON reading for streamed function calls: characters in, canonical JSON out.

A call's ``arguments`` are stored as ``json.dumps(json.loads(generated), ensure_ascii=False)``
(``tool_calls.parse_call_object``), so the fragments a stream shows must add up to exactly that string,
whatever spacing or escapes the model chose. ``JsonCanonicalizer`` reads one JSON value a character at a
time and returns, as soon as each piece is certain, the same characters ``json.dumps`` would write for it
(numbers and literals once complete, strings character by character, a high surrogate escape held until its
pair is known). Invalid input raises ``InvalidJsonError`` at the first character that cannot be JSON.
"""

from __future__ import annotations

import json
import re

WHITESPACE = " \t\n\r"
NUMBER_CHARS = frozenset("0123456789+-.eE")
NUMBER_PATTERN = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
# ``json.loads`` (the parser the stored arguments come from) also accepts these.
LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class InvalidJsonError(ValueError):
    """The characters read so far cannot start a JSON value of the expected kind."""


def escape_text(text: str) -> str:
    """``text`` as it appears inside a string written by ``json.dumps(..., ensure_ascii=False)``."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _is_high_surrogate(code: int) -> bool:
    return 0xD800 <= code <= 0xDBFF


def _is_low_surrogate(code: int) -> bool:
    return 0xDC00 <= code <= 0xDFFF


class JsonStringDecoder:
    """Decodes one string literal, fed the characters after its opening quote; ``done`` after the closing
    quote. Surrogate escapes pair up as ``json.loads`` pairs them."""

    def __init__(self) -> None:
        self.done = False
        self._escape: str | None = None  # an escape being read, from its backslash
        self._high: str | None = None  # a high surrogate escape waiting for its low half

    def feed(self, char: str) -> str:
        """The decoded text ``char`` completes (often empty)."""
        if self.done:
            raise InvalidJsonError("string already closed")
        if self._escape is not None:
            return self._feed_escape(self._escape + char)
        if char == "\\":
            self._escape = char
            return ""
        held = self._release_high()
        if char == '"':
            self.done = True
            return held
        if ord(char) < 0x20:
            raise InvalidJsonError("control character in a string")
        return held + char

    def _feed_escape(self, escape: str) -> str:
        if len(escape) == 2 and escape[1] != "u":
            self._escape = None
            if escape[1] not in SIMPLE_ESCAPES:
                raise InvalidJsonError(f"invalid escape {escape!r}")
            return self._release_high() + SIMPLE_ESCAPES[escape[1]]
        if len(escape) < 6:
            if len(escape) > 2 and escape[-1] not in "0123456789abcdefABCDEF":
                raise InvalidJsonError(f"invalid escape {escape!r}")
            self._escape = escape
            return ""
        self._escape = None
        code = int(escape[2:], 16)
        if self._high is not None and _is_low_surrogate(code):
            high, self._high = self._high, None
            return (high + chr(code)).encode("utf-16", "surrogatepass").decode("utf-16")
        held = self._release_high()
        if _is_high_surrogate(code):
            self._high = chr(code)
            return held
        return held + chr(code)

    def _release_high(self) -> str:
        high, self._high = self._high, None
        return high or ""


class _Container:
    """An object or array being read and what it expects next: ``key`` / ``colon`` / ``value`` /
    ``comma_or_end`` (``first`` while nothing was read: the container may close at once)."""

    __slots__ = ("expect", "first", "is_object")

    def __init__(self, is_object: bool) -> None:
        self.is_object = is_object
        self.expect = "key" if is_object else "value"
        self.first = True


class JsonCanonicalizer:
    """Reads one JSON value; ``feed`` returns the canonical text of what became certain. ``done`` once the
    value is complete (a top-level number ends only at the next character or at ``end``)."""

    def __init__(self) -> None:
        self.done = False
        self.first_char: str | None = None
        self._stack: list[_Container] = []  # containers being read, innermost last
        self._string: JsonStringDecoder | None = None
        self._string_is_key = False
        self._scalar: str | None = None  # a number or literal being read

    def feed(self, text: str) -> tuple[str, int]:
        """Read from ``text`` up to the end of the value: (canonical output, characters consumed)."""
        out: list[str] = []
        for position, char in enumerate(text):
            if self.done:
                return "".join(out), position
            piece, consumed = self._feed_char(char)
            out.append(piece)
            if not consumed:  # a top-level number ended at a character that is not part of it
                return "".join(out), position
        return "".join(out), len(text)

    def end(self) -> str:
        """The input ended: complete a top-level number or literal (raises when the value is unfinished)."""
        if self.done:
            return ""
        if self._scalar is not None and not self._stack:
            scalar, self._scalar = self._scalar, None
            self.done = True
            return _scalar_text(scalar)
        raise InvalidJsonError("unfinished JSON value")

    @property
    def _expecting_value(self) -> bool:
        if not self._stack:
            return self.first_char is None
        return self._stack[-1].expect == "value"

    def _feed_char(self, char: str) -> tuple[str, bool]:
        if self._string is not None:
            return self._feed_string(char), True
        if self._scalar is not None:
            if char in NUMBER_CHARS or char.isalpha():
                self._scalar += char
                if len(self._scalar) > 400:
                    raise InvalidJsonError("number too long")
                return "", True
            scalar, self._scalar = self._scalar, None
            text = _scalar_text(scalar)
            self._value_done()
            if self.done:
                return text, False
            piece, _ = self._feed_char(char)
            return text + piece, True
        if char in WHITESPACE:
            return "", True
        if self._expecting_value:
            return self._start_value(char), True
        return self._feed_structure(char), True

    def _start_value(self, char: str) -> str:
        if self.first_char is None:
            self.first_char = char
        container = self._stack[-1] if self._stack else None
        if char == "]" and container is not None and container.first:
            self._stack.pop()
            self._value_done()
            return "]"
        if container is not None:
            container.first = False
        if char in "{[":
            self._stack.append(_Container(is_object=char == "{"))
            return char
        if char == '"':
            self._string, self._string_is_key = JsonStringDecoder(), False
            return '"'
        if char in NUMBER_CHARS or char in "tfnNI":
            self._scalar = char
            return ""
        raise InvalidJsonError(f"unexpected {char!r} where a value starts")

    def _feed_structure(self, char: str) -> str:
        if not self._stack:
            raise InvalidJsonError("text after the value")
        container = self._stack[-1]
        if container.expect == "key" and char == '"':
            container.first = False
            self._string, self._string_is_key = JsonStringDecoder(), True
            return '"'
        if container.expect == "key" and char == "}" and container.first:
            self._stack.pop()
            self._value_done()
            return "}"
        if container.expect == "colon" and char == ":":
            container.expect = "value"
            return ": "
        if container.expect == "comma_or_end" and char == ",":
            container.expect = "key" if container.is_object else "value"
            return ", "
        if container.expect == "comma_or_end" and char == ("}" if container.is_object else "]"):
            self._stack.pop()
            self._value_done()
            return char
        raise InvalidJsonError(f"unexpected {char!r}")

    def _feed_string(self, char: str) -> str:
        assert self._string is not None
        decoded = escape_text(self._string.feed(char))
        if not self._string.done:
            return decoded
        self._string = None
        if self._string_is_key:
            self._stack[-1].expect = "colon"
        else:
            self._value_done()
        return decoded + '"'

    def _value_done(self) -> None:
        if self._stack:
            self._stack[-1].expect = "comma_or_end"
        else:
            self.done = True


def _scalar_text(scalar: str) -> str:
    if scalar in LITERALS:
        return scalar
    if not NUMBER_PATTERN.fullmatch(scalar):
        raise InvalidJsonError(f"invalid number or literal {scalar!r}")
    return json.dumps(json.loads(scalar))
