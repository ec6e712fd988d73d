"""What a finished generation writes: the assistant message, its run step and the run's final fields.

Pure functions of the run, the generated text and the clock reading, so a retry of the same run produces
the same ids (derived from the run id) and the conditional writes can detect duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.models import Message, Run, RunStep, Usage
from assistants_core.domain.reply_steps import MESSAGE_CREATION, message_creation_step
from assistants_core.domain.status import RunStatus, StepStatus

ENGINE_FAILURE_ERROR = {
    "code": "server_error",
    "message": "The server had an error while processing the run.",
}
MESSAGE_CREATION_STEP = MESSAGE_CREATION


@dataclass(frozen=True, slots=True)
class Generation:
    """The text a run produced and why it stopped (``finish_reason`` is None only for an empty stream)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None

    @property
    def usage(self) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One ``finish_run`` call: target status, run fields, and the records written with it."""

    target: RunStatus
    fields: dict[str, Any]
    message: Message | None = None
    steps: list[RunStep] = field(default_factory=list)


def reply_message_id(run: Run, turn: int = 0) -> str:
    """The reply's assistant message. A reply after ``turn`` tool-call turns has an id of its own: text the
    model streamed before a call in an earlier turn was announced under that turn's id, and an object's
    ``created_at`` never changes."""
    return ids.derived_id(ids.MESSAGE, run.id, f"r{turn:02d}" if turn else "")


def reply_step_id(run: Run, turn: int = 0) -> str:
    """The reply's ``message_creation`` step; after ``turn`` tool-call turns it sorts after their steps
    (``gpu_worker.tool_turns.tool_calls_step_id``)."""
    return ids.derived_id(ids.STEP, run.id, f"r{turn:02d}" if turn else "")


def _text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def in_progress_reply(run: Run, now: float, turn: int = 0) -> tuple[RunStep, Message]:
    """The reply's ``message_creation`` step and assistant message as they stand before the first token."""
    timestamp = int(now)
    message = Message(
        id=reply_message_id(run, turn),
        owner=run.owner,
        thread_id=run.thread_id,
        created_at=timestamp,
        role="assistant",
        content=[],
        assistant_id=run.assistant_id,
        run_id=run.id,
        status="in_progress",
    )
    step = message_creation_step(run, reply_step_id(run, turn), message.id, timestamp, StepStatus.IN_PROGRESS)
    return step, message


def generation_outcome(
    run: Run, generation: Generation, now: float, *, started_at: float, turn: int = 0
) -> RunOutcome:
    """completed, or incomplete when the completion token budget ran out. The message and step keep the
    ``created_at`` (and ids) they were announced with at ``started_at`` (``in_progress_reply``): an object's
    creation time never changes when it finishes."""
    timestamp = int(now)
    usage = generation.usage
    truncated = generation.finish_reason == "length"
    started_step, started_message = in_progress_reply(run, started_at, turn)
    message = replace(
        started_message,
        content=_text_content(generation.text),
        status="incomplete" if truncated else "completed",
        completed_at=None if truncated else timestamp,
        incomplete_at=timestamp if truncated else None,
        incomplete_details={"reason": "max_tokens"} if truncated else None,
    )
    step = replace(started_step, status=StepStatus.COMPLETED, completed_at=timestamp, usage=usage)
    if truncated:
        fields: dict[str, Any] = {
            "incomplete_details": {"reason": "max_completion_tokens"},
            "usage": usage,
        }
        return RunOutcome(RunStatus.INCOMPLETE, fields, message, [step])
    return RunOutcome(RunStatus.COMPLETED, {"completed_at": timestamp, "usage": usage}, message, [step])


def prompt_too_long_outcome(usage: Usage) -> RunOutcome:
    """Even the newest message exceeds ``max_prompt_tokens``: nothing is generated; ``usage`` is what the
    run's earlier turns used."""
    return _incomplete_outcome("max_prompt_tokens", usage)


def completion_budget_spent_outcome(usage: Usage) -> RunOutcome:
    """Earlier turns used up the run's ``max_completion_tokens``: nothing more is generated."""
    return _incomplete_outcome("max_completion_tokens", usage)


def _incomplete_outcome(reason: str, usage: Usage) -> RunOutcome:
    return RunOutcome(RunStatus.INCOMPLETE, {"incomplete_details": {"reason": reason}, "usage": usage})


@dataclass(frozen=True, slots=True)
class StartedReply:
    """A reply already announced to streams (``in_progress_reply`` at ``started_at``) and its text so far."""

    run: Run
    started_at: float
    turn: int
    text: str


def failure_outcome(now: float, reply: StartedReply | None = None) -> RunOutcome:
    """The engine failed; the error shown to users never carries the exception text. A reply that was
    already announced ends too, as OpenAI ends it: its step ``failed`` (with the error), its message
    ``incomplete`` (``run_failed``) with the text generated so far."""
    error = dict(ENGINE_FAILURE_ERROR)
    fields = {"failed_at": int(now), "last_error": error}
    if reply is None:
        return RunOutcome(RunStatus.FAILED, fields)
    timestamp = int(now)
    started_step, started_message = in_progress_reply(reply.run, reply.started_at, reply.turn)
    message = replace(
        started_message,
        content=_text_content(reply.text) if reply.text else [],
        status="incomplete",
        incomplete_at=timestamp,
        incomplete_details={"reason": "run_failed"},
    )
    step = replace(started_step, status=StepStatus.FAILED, failed_at=timestamp, last_error=dict(error))
    return RunOutcome(RunStatus.FAILED, fields, message, [step])


def cancelled_outcome(now: float) -> RunOutcome:
    return RunOutcome(RunStatus.CANCELLED, {"cancelled_at": int(now)})


def expired_outcome() -> RunOutcome:
    return RunOutcome(RunStatus.EXPIRED, {})
