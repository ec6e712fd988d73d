"""The incremental call reader (``tool_stream``) and canonical JSON streamer (``json_stream``): fed in any
chunking, they yield exactly the calls ``HermesToolCallFormat.parse`` / ``ToolTurn.parse`` read from the
whole text, hold back only what could still be a marker, and never show a call's characters as text."""

from __future__ import annotations

import json
import random

import pytest

from gpu_worker.json_stream import InvalidJsonError, JsonCanonicalizer
from gpu_worker.tool_calls import HermesToolCallFormat, parse_call_object
from gpu_worker.tool_stream import (
    ArgumentsPiece,
    CallEvent,
    CallStarted,
    CallStreamParser,
    ForcedCallStream,
    HermesCallStream,
    TextPiece,
    held_marker_prefix,
)

HERMES = HermesToolCallFormat()
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>'


def chunks(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces, start = [], 0
    while start < len(text):
        size = rng.randint(1, 7)
        pieces.append(text[start : start + size])
        start += size
    return pieces


def feed_all(parser: CallStreamParser, pieces: list[str]) -> list[CallEvent]:
    events: list[CallEvent] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.finish()


def text_and_calls(events: list[CallEvent]) -> tuple[str, list[tuple[str, str]]]:
    calls: dict[int, list[str]] = {}
    for event in events:
        if isinstance(event, CallStarted):
            calls[event.index] = [event.name, ""]
        elif isinstance(event, ArgumentsPiece):
            calls[event.index][1] += event.fragment
    text = "".join(event.text for event in events if isinstance(event, TextPiece))
    return text, [(name, arguments) for name, arguments in (calls[i] for i in sorted(calls))]


VALID = [
    ("Hello, no calls at all.", "Hello, no calls at all.", 0),
    (CALL, "", 1),
    ("Let me check.\n" + CALL, "Let me check.\n", 1),
    (CALL + "\n" + CALL.replace("Paris", "Rome"), "\n", 2),
    ('<tool_call>{"arguments": {"q": [1, 2.50, -0, 1e2, true, null]}, "name": "lookup"}</tool_call>', "", 1),
    ('<tool_call>{"name": "lookup", "arguments": "{\\"q\\": \\"x\\"}"}</tool_call>', "", 1),
    ('<tool_call>{"name": "lookup"}</tool_call>', "", 1),
    ('<tool_call>{"name":"s","arguments":{"t":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\n"}}</tool_call>', "", 1),
    ('cut off: <tool_call>{"name": "lookup", "arguments": {"q": 1}}', "cut off: ", 1),
]


@pytest.mark.parametrize(("text", "expected_text", "call_count"), VALID)
def test_any_chunking_yields_the_calls_parse_reads(text: str, expected_text: str, call_count: int) -> None:
    expected_calls = [(call.name, call.arguments) for call in HERMES.parse(text)]
    assert len(expected_calls) == call_count
    for seed in range(25):
        streamed_text, calls = text_and_calls(feed_all(HermesCallStream(), chunks(text, seed)))
        assert calls == expected_calls
        assert streamed_text == expected_text


@pytest.mark.parametrize(
    "text",
    [
        "a <tool_cabinet> b",
        "use <tool_call> tags</tool_call> then",
        "x <tool_call>{oops</tool_call> y",
        "ends with <tool_c",
        "<tool_call></tool_call>",
        "<tool_call>[1, 2]</tool_call>",
        '<tool_call>{"arguments": {}}</tool_call>',
        '<tool_call>{"name": 3}</tool_call>',
    ],
)
def test_marker_like_text_that_is_not_a_call_is_all_text(text: str) -> None:
    assert HERMES.parse(text) == []
    for seed in range(25):
        assert text_and_calls(feed_all(HermesCallStream(), chunks(text, seed))) == (text, [])


def test_text_is_held_back_only_while_it_may_become_the_marker() -> None:
    parser = HermesCallStream()
    assert parser.feed("Sure <tool") == [TextPiece("Sure ")]
    assert parser.feed("_c") == []
    assert parser.feed("abinet") == [TextPiece("<tool_cabinet")]
    assert parser.feed(" <") == [TextPiece(" ")]
    assert parser.feed("b>") == [TextPiece("<b>")]
    assert parser.feed("<") == []
    assert parser.finish() == [TextPiece("<")]


def test_marker_split_character_by_character_shows_no_call_text() -> None:
    events = feed_all(HermesCallStream(), list("Checking.\n" + CALL))
    text, calls = text_and_calls(events)
    assert text == "Checking.\n"
    assert calls == [("get_weather", '{"city": "Paris", "days": 3}')]
    assert isinstance(events[-1], ArgumentsPiece)
    # the name is announced before the arguments are complete: they stream in several fragments
    assert sum(isinstance(event, ArgumentsPiece) for event in events) > 3


def test_held_marker_prefix() -> None:
    assert held_marker_prefix("abc <tool_ca", "<tool_call>") == len("<tool_ca")
    assert held_marker_prefix("abc", "<tool_call>") == 0
    assert held_marker_prefix("a<", "<tool_call>") == 1


def test_malformed_call_streams_as_a_call_that_parse_refuses() -> None:
    # The stream commits when the name is known; the turn's event stream repairs this at the end.
    text = '<tool_call>{"name": "f", "arguments": {"a": 1}} junk</tool_call>'
    assert HERMES.parse(text) == []
    _, calls = text_and_calls(feed_all(HermesCallStream(), chunks(text, 1)))
    assert calls == [("f", '{"a": 1}')]


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        ' {"arguments": {"city": "Paris"}, "name": "get_weather"} ',
        '{"name": "get_weather", "arguments": {}}',
    ],
)
def test_forced_call_object_streams_its_arguments(text: str) -> None:
    expected = parse_call_object(text.strip())
    assert expected is not None
    for seed in range(10):
        streamed_text, calls = text_and_calls(feed_all(ForcedCallStream(), chunks(text, seed)))
        assert (streamed_text, calls) == ("", [(expected.name, expected.arguments)])


def test_forced_output_that_is_no_call_object_is_read_as_hermes_text() -> None:
    text = "no object here " + CALL
    _, calls = text_and_calls(feed_all(ForcedCallStream(), chunks(text, 3)))
    assert calls == [(c.name, c.arguments) for c in HERMES.parse(text)]


JSON_VALUES = [
    "{}",
    "[]",
    '{"a": [1, 2.50, {"b": null}], "c": "x\\u00e9\\n\\ud83d\\ude00\\ud83d", "d": true, "e": -1e5}',
    '{"a": "\\\\\\"\\/", "b": NaN, "c": -Infinity, "d": 12345678901234567890123}',
    '"text"',
    "[1, [2, [3]], []]",
    '{"k" :"tab\\there",  "n": -0.0 }',
]


@pytest.mark.parametrize("raw", JSON_VALUES)
def test_canonicalizer_writes_what_json_dumps_writes(raw: str) -> None:
    expected = json.dumps(json.loads(raw), ensure_ascii=False)
    for seed in range(20):
        reader, out = JsonCanonicalizer(), []
        for piece in chunks(raw, seed):
            written, used = reader.feed(piece)
            out.append(written)
            assert used == len(piece)
        out.append(reader.end())
        assert "".join(out) == expected


@pytest.mark.parametrize("raw", ["[1,]", '{"a":1,}', "{,}", '{"a" 1}', "01", "1.", "tru", '"\\x"', '"a\nb"'])
def test_canonicalizer_refuses_what_json_loads_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        json.loads(raw)
    reader = JsonCanonicalizer()
    with pytest.raises(InvalidJsonError):
        reader.feed(raw)
        reader.end()


def test_canonicalizer_stops_at_the_end_of_its_value() -> None:
    reader = JsonCanonicalizer()
    assert reader.feed('{"a": 1} </tool_call>') == ('{"a": 1}', 8)
    assert reader.done
    number = JsonCanonicalizer()
    assert number.feed("12, ") == ("12", 2)
