"""The local stack's AWS state survives restarts and ``kill -9``: a write-ahead journal of moto's requests.

moto keeps everything in memory. The local stack serves moto through ``JournaledMotoServer``: every
request that changes data (DynamoDB item writes, S3 puts/deletes, SQS sends/deletes) is applied, and when
it succeeded it is appended to ``<state dir>/journal.jsonl`` (written and flushed to the operating system)
*before* its response goes back. So a write whose response a client saw is in the journal, even when the
whole stack is killed with ``kill -9`` right after (the journal is not ``fsync``ed: an operating-system
crash or power loss may drop its last writes). On start, the resources are created from template.yaml
and then the journal is replayed in order into the fresh moto, through the same request handlers.

- Mutating requests are serialised (one at a time, applied and journaled under one lock), so the journal
  order is the order they were applied in, and a replay evaluates every condition the same way. Failed
  requests (a refused condition, a cancelled transaction) changed nothing and are not journaled.
- Reads are not journaled and never wait on the lock; SQS long polls neither.
- SQS: a receive is not journaled, so a message that was in flight when the stack died is visible again
  after the restart (its run is claimed again once the dead worker's lease ran out: the run state
  machine's conditional writes make a re-delivery safe), and its receive count starts over. A delete
  names the message by the receipt handle of one receive, which a replay cannot reproduce: the journal
  records the message ids it deleted instead, and a replay re-sends only the messages never deleted (each
  once, in order), so nothing is delivered twice for a delete the stack acknowledged.
- A last journal line cut short by a kill was never acknowledged (its response had not gone out) and is
  ignored.
- Compaction: after a replay and when the stack stops, the journal is rewritten as a snapshot of what is
  stored (every table's items in ``BatchWriteItem`` requests, every object's latest version, every queued
  message once) into a new file that replaces the old one atomically, so a restart replays what is stored,
  not the whole history (S3 object versions, SQS message attributes and delays are not kept).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import sqs_backends
from werkzeug.serving import make_server
from werkzeug.test import Client

from infra.local_snapshot import WsgiApp, is_snapshot_only, write_snapshot

log = logging.getLogger("infra.local_state")

JOURNAL_FILE = "journal.jsonl"

_DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement"}
    | {"BatchExecuteStatement", "ExecuteTransaction"}
)
_SQS_SENDS = frozenset({"SendMessage", "SendMessageBatch", "PurgeQueue"})
_SQS_DELETES = frozenset({"DeleteMessage", "DeleteMessageBatch"})
_S3_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/")
_MESSAGE_ID = re.compile(r"MessageId[\"'<>:\s]+([0-9a-fA-F-]{36})")
# Headers that describe one connection or are recomputed for a replayed body.
_SKIPPED_HEADERS = frozenset({"content-length", "connection", "keep-alive", "accept-encoding"})


@dataclass(frozen=True, slots=True)
class Operation:
    """What a request does, as far as the journal cares."""

    service: str  # dynamodb, sqs, s3, other
    action: str  # the API action (S3: the HTTP method)
    region: str

    @property
    def mutating(self) -> bool:
        if self.service == "dynamodb":
            return self.action in _DYNAMODB_WRITES
        if self.service == "sqs":
            return self.action in _SQS_SENDS or self.action in _SQS_DELETES
        if self.service == "s3":
            return self.action in _S3_WRITE_METHODS
        return False


def classify(environ: dict[str, Any], body: bytes) -> Operation:
    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    region, service = (scope.group(1), scope.group(2)) if scope else ("us-east-1", "other")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return Operation(service, target.rsplit(".", 1)[-1], region)
    if service == "sqs":  # the query protocol: Action=... in the form body
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        return Operation(service, action, region)
    return Operation(service, str(environ.get("REQUEST_METHOD", "GET")).upper(), region)


def _sqs_fields(body: bytes, environ: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters (JSON protocol) or flattened form fields (query protocol)."""
    if "json" in environ.get("CONTENT_TYPE", ""):
        loaded: dict[str, Any] = json.loads(body or b"{}")
        return loaded
    return {name: values[0] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}


def _receipt_handles(fields: dict[str, Any]) -> list[str]:
    if "ReceiptHandle" in fields:
        return [str(fields["ReceiptHandle"])]
    entries = fields.get("Entries")
    if isinstance(entries, list):
        return [str(entry["ReceiptHandle"]) for entry in entries if "ReceiptHandle" in entry]
    return [str(value) for name, value in fields.items() if name.endswith(".ReceiptHandle")]


def _queue_name(fields: dict[str, Any]) -> str:
    return str(fields.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]


def _message_ids_for(region: str, queue_name: str, receipt_handles: list[str]) -> list[str]:
    """Ids of the messages these receipt handles name (moto runs in this process)."""
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][region].queues.get(queue_name)
    if queue is None:
        return []
    return [
        message.id
        for message in list(queue._messages)  # moto keeps no public lookup by handle
        if any(message.had_receipt_handle(handle) for handle in receipt_handles)
    ]


class Journal:
    """Append-only JSON lines; one line per acknowledged mutating request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def append(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()  # in the operating system before the response goes out: survives kill -9

    def close(self) -> None:
        self._file.close()


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The journal's entries in order; a last line cut short by a kill is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                entry: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                log.warning("journal line %d is incomplete (a kill while writing it); ignored", number)
                continue
            yield entry


def _request_entry(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    headers = {
        name[5:].replace("_", "-").lower(): str(value)
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    for name in _SKIPPED_HEADERS:
        headers.pop(name, None)
    return {
        "kind": "request",
        "method": environ.get("REQUEST_METHOD", "GET"),
        "path": environ.get("PATH_INFO", "/"),
        "query": environ.get("QUERY_STRING", ""),
        "headers": headers,
        "body": base64.b64encode(body).decode(),
    }


class JournalingApp:
    """WSGI middleware over moto's app: applies and journals mutating requests one at a time."""

    def __init__(self, app: WsgiApp, journal: Journal) -> None:
        self._app = app
        self._journal = journal
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            body = environ["wsgi.input"].read(length)
        else:  # chunked: the server de-chunks and marks the stream terminated
            body = environ["wsgi.input"].read() if environ.get("wsgi.input_terminated") else b""
        environ["wsgi.input"] = io.BytesIO(body)  # re-readable by moto
        operation = classify(environ, body)
        if not operation.mutating:
            return self._app(environ, start_response)
        with self._lock:
            entry = _request_entry(environ, body)
            if operation.service == "sqs" and operation.action in _SQS_DELETES:
                fields = _sqs_fields(body, environ)
                queue = _queue_name(fields)
                entry = {
                    "kind": "sqs_delete",
                    "queue": queue,
                    "message_ids": _message_ids_for(operation.region, queue, _receipt_handles(fields)),
                }
            status: list[str] = []

            def capture(code: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
                status.append(code)
                return start_response(code, headers, *exc_info)

            response = list(self._app(environ, capture))
            if status and status[0].startswith("2"):
                if operation.service == "sqs" and operation.action in _SQS_SENDS:
                    entry["kind"] = "sqs_send"
                    entry["queue"] = _queue_name(_sqs_fields(body, environ))
                    entry["message_ids"] = _MESSAGE_ID.findall(b"".join(response).decode("utf-8", "replace"))
                    entry["purge"] = operation.action == "PurgeQueue"
                self._journal.append(entry)
            return response


def _undelivered_sends(entries: list[dict[str, Any]]) -> set[int]:
    """Indexes of the ``sqs_send`` entries whose messages are not all deleted (nor purged) later."""
    deleted: set[str] = set()
    purged_before: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry["kind"] == "sqs_delete":
            deleted.update(entry["message_ids"])
        elif entry["kind"] == "sqs_send" and entry.get("purge"):
            purged_before[entry["queue"]] = index
    return {
        index
        for index, entry in enumerate(entries)
        if entry["kind"] == "sqs_send"
        and not entry.get("purge")
        and index > purged_before.get(entry["queue"], -1)
        and not set(entry["message_ids"]) <= deleted
    }


def replay(app: WsgiApp, entries: list[dict[str, Any]]) -> int:
    """Apply the journal's requests to ``app`` (a fresh moto) in order; returns how many were applied."""
    client = Client(app)
    resend = _undelivered_sends(entries)
    applied = 0
    for index, entry in enumerate(entries):
        if entry["kind"] in ("snapshot", "sqs_delete") or (
            entry["kind"] == "sqs_send" and index not in resend
        ):
            continue
        response = client.open(
            path=entry["path"],
            method=entry["method"],
            query_string=entry["query"],
            headers=list(entry["headers"].items()),
            data=base64.b64decode(entry["body"]),
        )
        if response.status_code >= 300:
            log.warning(
                "journal entry %d answered %s on replay: %s", index, response.status, response.text[:300]
            )
        else:
            applied += 1
        response.close()
    return applied


class JournaledMotoServer(ThreadedMotoServer):
    """moto's threaded server with the journal in front (``journal=None``: in memory, as moto is)."""

    def __init__(self, *, ip_address: str, port: int, state_dir: Path | None, region: str) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.state_dir = state_dir
        self.region = region
        self.app: WsgiApp = DomainDispatcherApplication(create_backend_app)
        self._journal: Journal | None = None
        self._served: WsgiApp = self.app

    def _server_entry(self) -> None:
        self._server = make_server(self._ip_address, self._port, self._served, True)
        self._server_ready_event.set()
        self._server.serve_forever()

    def restore_and_journal(self) -> int:
        """Replay the state directory's journal (call after the resources exist), then journal every
        mutating request from now on. Returns how many journaled requests were replayed."""
        if self.state_dir is None:
            return 0
        path = self.state_dir / JOURNAL_FILE
        entries = list(read_journal(path))
        applied = replay(self.app, entries)
        if entries and not is_snapshot_only(entries):  # a kill left history behind: compact it now
            write_snapshot(self.app, self.region, path)
        self._journal = Journal(path)
        self._served = JournalingApp(self.app, self._journal)
        if self._server is not None:
            self._server.app = self._served
        return applied

    def stop(self) -> None:
        """Stop serving; then (no request can come any more) compact the journal into a snapshot."""
        super().stop()
        if self._journal is not None and self.state_dir is not None:
            self._journal.close()
            self._journal = None
            write_snapshot(self.app, self.region, self.state_dir / JOURNAL_FILE)
