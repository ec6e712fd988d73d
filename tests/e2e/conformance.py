"""The OpenAI conformance check of the e2e tests (issue 15): every response body and every SSE event our API
sends while the e2e tests run is validated, strictly, against the schemas of OpenAI's published OpenAPI
document (``openai_schema.py``), and the invariants a schema cannot say are checked over all of them
(``stream_invariants.py``). ``tests/e2e/conftest.py`` wraps the API app in ``RECORDER`` (an ASGI middleware:
it sees exactly what the API sends, whichever client a test uses), prints the coverage table at the end of
the session and fails the session on any violation that ``DEVIATIONS`` does not explain.

What is checked against what:
- a JSON 2xx response of an operation the spec lists: that operation's response schema;
- any JSON error response (4xx/5xx): ``ErrorResponse``;
- every event of a ``text/event-stream`` response: the ``AssistantStreamEvent`` member of that event name;
- anything else (``/v1/openapi.json``, ``/v1/models``, ...) is counted as not in the spec's Assistants part.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.openai_schema import OpenAISpec, Violation, covered_properties, load_spec, schema_properties
from tests.e2e.stream_invariants import Seen, check_objects, check_stream

API_PREFIX = "/v1"
ERROR_SCHEMA = "ErrorResponse"
SPEC_OBJECTS = {"assistant", "thread", "thread.message", "thread.run", "thread.run.step"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Deviation:
    """A violation we keep on purpose: regular expressions for the violation's ``schema`` (the whole name,
    e.g. ``RunObject``, ``event thread.run.created``, ``invariant:order``), and searched in its JSON path
    (``where``) and its ``message``. ``title`` names it in the README's list of deviations."""

    title: str
    schema: str
    where: str
    message: str
    reason: str

    def explains(self, violation: Violation) -> bool:
        return (
            re.fullmatch(self.schema, violation.schema) is not None
            and re.search(self.where, violation.where) is not None
            and re.search(self.message, violation.message) is not None
        )


# Deliberate deviations from OpenAI's spec (the README's "OpenAI conformance" section lists the same, with
# the same reasons). Everything else the check finds fails the test session.
DEVIATIONS: list[Deviation] = [
    Deviation(
        title="Empty list pages: first_id/last_id null",
        schema=r"List\w+Response",
        where=r"^\$\.(first|last)_id$",
        message=r"^None is not of type 'string'$",
        reason="an empty page has no first or last id: null, as OpenAI's API answers (the SDKs type them "
        "Optional); the spec types them string",
    ),
    Deviation(
        title="Open: thread.run.cancelling can be missing from a stream",
        schema=r"invariant:order",
        where=r"^run_",
        message=r"^run went in_progress -> cancelled$",
        reason="OPEN (event-log writer, not serialization): the API appends thread.run.cancelling after its "
        "conditional write, so a worker that ends the run first appends cancelled before it and the stream "
        "closes without cancelling (tests/e2e/test_streaming.py::test_cancel_mid_stream_ends_cancelled)",
    ),
    Deviation(
        title="Open: a reply cancelled or expired mid-generation is not ended",
        schema=r"invariant:order",
        where=r"^(step|msg)_",
        message=r"^still open when the run became (cancelled|expired)$",
        reason="OPEN (worker's cancel/expiry path, gpu_worker/consumer.py): a reply cancelled or expired "
        "mid-generation is not ended (OpenAI: step cancelled/expired, message incomplete run_cancelled/"
        "run_expired) and is not stored; a failed one is (outcomes.failure_outcome)",
    ),
]


@dataclass
class Exchange:
    seq: int
    method: str
    path: str
    status: int = 0
    content_type: str = ""
    body: bytearray = field(default_factory=bytearray)
    finished: bool = False

    @property
    def origin(self) -> str:
        return f"#{self.seq} {self.method} {self.path} -> {self.status}"


class ConformanceRecorder:
    """Records every HTTP exchange of the wrapped ASGI app (bodies included); checked after the session."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def wrap(self, app: App) -> App:
        async def recording_app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            with self._lock:
                exchange = Exchange(next(self._numbers), scope["method"], scope["path"])
                self.exchanges.append(exchange)

            async def recording_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    exchange.status = message["status"]
                    headers = dict(message.get("headers", []))
                    exchange.content_type = headers.get(b"content-type", b"").decode()
                elif message["type"] == "http.response.body":
                    exchange.body.extend(message.get("body", b""))
                    exchange.finished = not message.get("more_body", False)
                await send(message)

            await app(scope, receive, recording_send)

        return recording_app


def parse_sse(body: str) -> list[tuple[str, Any]]:
    """``(event name, data)`` of each frame (data parsed as JSON where it is JSON, e.g. not ``[DONE]``)."""
    events = []
    for frame in body.split("\n\n"):
        lines = [line for line in frame.split("\n") if line]
        name = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        data = "\n".join(line[5:].removeprefix(" ") for line in lines if line.startswith("data:"))
        if name is None:
            continue
        try:
            events.append((name, json.loads(data)))
        except ValueError:
            events.append((name, data))
    return events


def _operation_patterns(spec: OpenAISpec) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, operation key), literal paths before templated ones (``/threads/runs``)."""
    patterns = []
    for key in spec.operations:
        method, template = key.split(" ", 1)
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        patterns.append((method, re.compile(f"^{regex}$"), key))
    return sorted(patterns, key=lambda item: item[2].count("{"))


@dataclass
class Report:
    spec: OpenAISpec
    checked: Counter[str] = field(default_factory=Counter)
    not_in_spec: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    explained: list[tuple[Violation, Deviation]] = field(default_factory=list)
    covered: set[tuple[str, str]] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)

    def validate(self, schema: str, instance: Any, origin: str, validator: Any = None) -> None:
        self.checked[schema] += 1
        found = self.spec.check(validator or self.spec.named(schema), instance, schema, origin)
        self._add(found)
        if not found and not schema.startswith("event "):
            self.covered.update(covered_properties(self.spec, schema, instance))

    def _add(self, violations: list[Violation]) -> None:
        for violation in violations:
            deviation = next((d for d in DEVIATIONS if d.explains(violation)), None)
            if deviation is None:
                self.violations.append(violation)
            else:
                self.explained.append((violation, deviation))

    def add_seen(self, origin: str, data: Any, event: str | None = None) -> None:
        if isinstance(data, dict) and data.get("object") == "list":
            for item in data.get("data", []):
                self.add_seen(origin, item)
        elif isinstance(data, dict) and data.get("object") in SPEC_OBJECTS | {"thread.message.delta"}:
            self.seen.append(Seen(origin, data, event))


def build_report(exchanges: list[Exchange], spec: OpenAISpec | None = None) -> Report:
    spec = spec or load_spec()
    report = Report(spec)
    operations = _operation_patterns(spec)
    for exchange in exchanges:
        path = exchange.path.removeprefix(API_PREFIX)
        if not exchange.path.startswith(API_PREFIX) or exchange.method in ("HEAD", "OPTIONS"):
            report.not_in_spec[f"{exchange.method} {exchange.path.split('/')[1] or '/'}"] += 1
            continue
        if exchange.content_type.startswith("text/event-stream"):
            _check_stream(report, exchange)
            continue
        if not exchange.content_type.startswith("application/json"):
            report.not_in_spec[f"{exchange.method} {path} ({exchange.content_type or 'no body'})"] += 1
            continue
        body = json.loads(bytes(exchange.body))
        if exchange.status >= 400:
            report.validate(ERROR_SCHEMA, body, exchange.origin)
            continue
        operation = next(
            (key for method, regex, key in operations if method == exchange.method and regex.match(path)),
            None,
        )
        schema = spec.operations.get(operation or "", {}).get(str(exchange.status))
        if schema is None:
            report.not_in_spec[f"{exchange.method} {_template(path)}"] += 1
            continue
        report.validate(schema, body, exchange.origin)
        report.add_seen(exchange.origin, body)
    invariants = list(check_objects(report.seen))
    report._add([Violation(f"invariant:{b.rule}", b.where, b.message, b.origin) for b in invariants])
    return report


def _template(path: str) -> str:
    return re.sub(r"/(asst|thread|msg|run|step|call)_[^/]+", lambda m: f"/{{{m.group(1)}_id}}", path)


def _check_stream(report: Report, exchange: Exchange) -> None:
    events = parse_sse(bytes(exchange.body).decode())
    for index, (name, data) in enumerate(events):
        origin = f"{exchange.origin} event #{index} {name}"
        validator = report.spec.event_validator(name)
        if validator is None:
            report._add([Violation(f"event {name}", "$", "not an AssistantStreamEvent", origin)])
            continue
        envelope = {"event": name, "data": data}
        report.validate(f"event {name}", envelope, origin, validator)
        if validator.is_valid(envelope):
            report.covered.update(covered_properties(report.spec, report.spec.events[name][0], envelope))
        report.add_seen(origin, data, name)
    broken = check_stream(exchange.origin, events, exchange.finished)
    report._add([Violation(f"invariant:{b.rule}", b.where, b.message, b.origin) for b in broken])


# -- the summary --------------------------------------------------------------------------------------------
def summary_lines(report: Report) -> Iterator[str]:
    universe = schema_properties(report.spec)
    total = sum(len(paths) for paths in universe.values())
    covered = {(name, path) for name, path in report.covered if path in universe.get(name, set())}
    produced = {name for name, _ in covered}
    produced_total = sum(len(universe[name]) for name in produced)
    source = report.spec.source
    yield (
        f"OpenAI conformance (openai-openapi {source['commit'][:12]}, {source['file']}): "
        f"{sum(report.checked.values())} bodies/events checked, properties covered {len(covered)}/{total} "
        f"({100 * len(covered) / total:.1f}%; {len(covered)}/{produced_total} of the {len(produced)} schemas "
        f"produced), violations {len(report.violations)} (+{len(report.explained)} documented deviations)"
    )
    yield f"{'checked against':<44} {'count':>6}"
    for name, count in sorted(report.checked.items()):
        yield f"{name:<44} {count:>6}"
    yield f"{'schema':<44} {'properties covered':>18}"
    for name in sorted(universe):
        hits = {path for owner, path in covered if owner == name}
        if hits:
            missing = sorted(universe[name] - hits)
            note = f"  never seen: {', '.join(missing)}" if missing else ""
            yield f"{name:<44} {len(hits):>8}/{len(universe[name]):<9}{note}"
    untouched = sorted(name for name in universe if not any(owner == name for owner, _ in covered))
    yield f"schemas never produced ({len(untouched)}): {', '.join(untouched)}"
    if report.not_in_spec:
        listed = ", ".join(f"{key} x{count}" for key, count in sorted(report.not_in_spec.items()))
        yield f"not in the spec's Assistants part (unchecked): {listed}"
    for violation, deviation in _first_per_kind(report.explained):
        yield f"deviation ({deviation.title}): {violation.schema} {violation.where}: {violation.message}"
    kinds: dict[tuple[str, str, str], list[Violation]] = {}
    for violation in report.violations:
        key = (violation.schema, _generic(violation.where), _generic(violation.message))
        kinds.setdefault(key, []).append(violation)
    for (schema, where, message), found in kinds.items():
        yield f"VIOLATION x{len(found)} {schema} {where}: {message} [first: {found[0].origin}]"


def _generic(text: str) -> str:
    """Ids and list indices out, so that one kind of violation is one line."""
    text = re.sub(r"\[\d+\]", "[*]", text)
    return re.sub(r"\b(asst|thread|msg|run|step|call)_[0-9a-z]+", r"\1_*", text)


def _first_per_kind(explained: list[tuple[Violation, Deviation]]) -> Iterator[tuple[Violation, Deviation]]:
    shown: set[Deviation] = set()
    for violation, deviation in explained:
        if deviation not in shown:
            shown.add(deviation)
            yield violation, deviation


RECORDER = ConformanceRecorder()
