"""The local stack keeps its state across restarts and ``kill -9`` (infra.local_state): everything written
is read back after a kill, a run queued before it and a run in flight when it died complete after the
restart (once each), and ``--fresh`` starts empty. The stack runs as ``make run`` does, with the scripted
engine for speed."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import local_env
from infra.local_stack import free_port
from infra.local_state import JOURNAL_FILE, Journal, read_journal, replay
from tests.processes import eventually

# Safety nets for a loaded machine (waits end as soon as the condition holds), not timing assertions.
READY_SECONDS = 120.0
RUN_SECONDS = 180.0
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
HEADERS = {"Authorization": f"Bearer {local_env.DEFAULT_DEV_KEY}", "OpenAI-Beta": "assistants=v2"}
LARGE_TEXT = "large body " * 8000  # ~88 KB: stored in S3
# A short lease so that a run whose worker died is claimed again soon after the restart.
FAST_LEASE = {"ASSISTANTS_LEASE_SECONDS": "3", "ASSISTANTS_HEARTBEAT_SECONDS": "1"}


class StackProcess:
    """``python -m infra.local_stack`` on free ports with a data folder."""

    def __init__(self, data_dir: Path, *arguments: str, environment: dict[str, str] | None = None) -> None:
        self.api_port = free_port()
        command = [
            sys.executable, "-m", "infra.local_stack", "--data-dir", str(data_dir),
            "--api-port", str(self.api_port), "--moto-port", str(free_port()), *arguments,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=local_env.REPO_ROOT,
            env=local_env.child_process_environment(environment or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        self.banner = "".join(lines)
        assert "ready" in self.banner, self.banner
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}/v1", headers=HEADERS, timeout=60
        )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def kill_9(self) -> None:
        """``kill -9`` of the stack (its guards then stop the API and the worker)."""
        self.client.close()
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=READY_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill_9()


@pytest.fixture
def stacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[StackProcess]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("ASSISTANTS_DEV_KEY", raising=False)
    started: list[StackProcess] = []
    yield started
    for stack in started:
        stack.stop()


def texts(messages: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"][0]["text"]["value"]) for m in messages["data"]]


def run_status(stack: StackProcess, run: dict[str, Any]) -> str:
    status: str = stack.get(f"/threads/{run['thread_id']}/runs/{run['id']}")["status"]
    return status


@pytest.mark.parametrize("end", ["kill_9", "stop"])
def test_writes_survive_a_restart_and_a_queued_run_completes_after_it(
    stacks: list[StackProcess], tmp_path: Path, end: str
) -> None:
    """After ``kill -9`` the journal is replayed as written; after a clean stop it was compacted into a
    snapshot of what is stored (items, S3 bodies, queued messages), which is replayed instead."""
    first = StackProcess(tmp_path, "--no-worker")
    stacks.append(first)
    assistant = first.post(
        "/assistants", {"model": local_env.SERVED_MODEL, "name": "kept", "instructions": "hi"}
    )
    thread = first.post(
        "/threads", {"messages": [{"role": "user", "content": "first"}], "metadata": {"k": "v"}}
    )
    first.post(f"/threads/{thread['id']}/messages", {"role": "user", "content": LARGE_TEXT})
    deleted = first.post(f"/threads/{thread['id']}/messages", {"role": "user", "content": "deleted"})
    assert first.client.delete(f"/threads/{thread['id']}/messages/{deleted['id']}").status_code == 200
    first.post(f"/threads/{thread['id']}/messages", {"role": "user", "content": "last"})
    run = first.post(f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    assert run["status"] == "queued"  # no worker: its SQS message waits in the queue
    if end == "kill_9":
        first.kill_9()
    else:
        first.stop()
        (header, *_) = read_journal(tmp_path / JOURNAL_FILE)
        assert header["kind"] == "snapshot"

    second = StackProcess(tmp_path, "--worker-engine", "scripted")
    stacks.append(second)
    assert second.get(f"/assistants/{assistant['id']}")["name"] == "kept"
    assert second.get(f"/threads/{thread['id']}")["metadata"] == {"k": "v"}
    assert eventually(lambda: run_status(second, run) in TERMINAL, RUN_SECONDS)
    assert run_status(second, run) == "completed"
    messages = second.get(f"/threads/{thread['id']}/messages", order="asc")
    assert texts(messages) == [
        ("user", "first"),
        ("user", LARGE_TEXT),
        ("user", "last"),
        ("assistant", "You said: last"),
    ]


def test_a_run_in_flight_when_the_stack_died_completes_once_after_the_restart(
    stacks: list[StackProcess], tmp_path: Path
) -> None:
    first = StackProcess(tmp_path, "--worker-engine", "scripted", environment=FAST_LEASE)
    stacks.append(first)
    assistant = first.post("/assistants", {"model": local_env.SERVED_MODEL})
    # ~5 s of scripted generation (0.01 s a word), within the local stack's 1024-token default completion cap
    long_text = " ".join(f"w{index}" for index in range(480))
    run = first.post(
        "/threads/runs",
        {
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": long_text}]},
        },
    )
    assert eventually(lambda: run_status(first, run) == "in_progress", RUN_SECONDS, poll_seconds=0.1)
    first.kill_9()

    second = StackProcess(tmp_path, "--worker-engine", "scripted", environment=FAST_LEASE)
    stacks.append(second)
    assert eventually(lambda: run_status(second, run) in TERMINAL, RUN_SECONDS)
    finished = second.get(f"/threads/{run['thread_id']}/runs/{run['id']}")
    assert finished["status"] == "completed", finished
    messages = second.get(f"/threads/{run['thread_id']}/messages", order="asc")
    assert texts(messages) == [("user", long_text), ("assistant", f"You said: {long_text}")]
    steps = second.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps")
    assert len(steps["data"]) == 1


def test_fresh_starts_empty(stacks: list[StackProcess], tmp_path: Path) -> None:
    first = StackProcess(tmp_path, "--no-worker")
    stacks.append(first)
    assistant = first.post("/assistants", {"model": local_env.SERVED_MODEL})
    first.stop()
    second = StackProcess(tmp_path, "--no-worker")
    stacks.append(second)
    assert second.get(f"/assistants/{assistant['id']}")["id"] == assistant["id"]
    second.stop()
    third = StackProcess(tmp_path, "--no-worker", "--fresh")
    stacks.append(third)
    assert third.client.get(f"/assistants/{assistant['id']}").status_code == 404
    assert third.get("/assistants")["data"] == []


def test_a_journal_line_cut_short_by_a_kill_is_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append({"kind": "request", "n": 1})
    journal.close()
    with (tmp_path / "journal.jsonl").open("a") as file:
        file.write('{"kind": "requ')
    assert list(read_journal(tmp_path / "journal.jsonl")) == [{"kind": "request", "n": 1}]
    assert list(read_journal(tmp_path / "missing.jsonl")) == []


def test_replay_resends_only_the_queue_messages_never_deleted() -> None:
    def request(body: str) -> dict[str, Any]:
        return {
            "method": "POST",
            "path": "/",
            "query": "",
            "headers": {"x-amz-target": "AmazonSQS.SendMessage"},
            "body": base64.b64encode(body.encode()).decode(),
        }

    entries = [
        {"kind": "sqs_send", "queue": "q", "message_ids": ["a"], **request("one")},
        {"kind": "sqs_send", "queue": "q", "message_ids": ["b"], **request("two")},
        {"kind": "sqs_delete", "queue": "q", "message_ids": ["a"]},
        {"kind": "sqs_send", "queue": "other", "message_ids": ["c"], "purge": True, **request("purge")},
        {"kind": "request", **request("write")},
    ]
    seen: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    assert replay(app, entries) == 2
    assert seen == [b"two", b"write"]
