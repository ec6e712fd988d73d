"""``submit_tool_outputs``: answer the function calls of a run in ``requires_action`` and let it continue.

Validated before anything is written: the run must be waiting for tool outputs, every pending call id must
be answered exactly once and no other id may appear. Then ONE conditional transaction completes the
``tool_calls`` step (each call's ``function.output`` set) and moves the run ``requires_action -> queued``
(clearing ``required_action``); the run is re-enqueued and the worker continues with the outputs. A second
submit (or a cancel, or the sweeper's expiry) racing this one loses the condition and gets a 400.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError, InvalidRunStateError
from assistants_core.domain.models import Run, RunStep
from assistants_core.domain.run_events import RunEvent
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.ports import Clock, RunQueue, RunRepository
from assistants_core.schemas.tool_outputs import SubmitToolOutputsRequest, ToolOutput
from assistants_core.services.run_stream import RunStreamService
from assistants_core.services.runs import enqueue_run
from assistants_core.services.tool_waits import find_pending_step, pending_tool_calls
from assistants_core.services.validation import require_id

# The outputs are stored on the step item (DynamoDB items are capped at 400 KB).
MAX_TOOL_OUTPUTS_BYTES = 300_000


def check_outputs(run: Run, outputs: Sequence[ToolOutput]) -> dict[str, str]:
    """The output of each pending call id, or a 400 naming the offending entry."""
    if run.status != RunStatus.REQUIRES_ACTION:
        raise InvalidRunStateError(f'Runs in status "{run.status.value}" do not accept tool outputs.')
    expected = [call["id"] for call in pending_tool_calls(run)]
    answered: dict[str, str] = {}
    for index, output in enumerate(outputs):
        param = f"tool_outputs[{index}].tool_call_id"
        if output.tool_call_id not in expected:
            raise InvalidRequestError(
                f"Invalid '{param}': no pending tool call has id '{output.tool_call_id}'.", param=param
            )
        if output.tool_call_id in answered:
            raise InvalidRequestError(
                f"Invalid '{param}': tool call '{output.tool_call_id}' is answered more than once.",
                param=param,
            )
        answered[output.tool_call_id] = output.output
    missing = [call_id for call_id in expected if call_id not in answered]
    if missing:
        raise InvalidRequestError(
            f"Expected tool outputs for call_ids {expected}, got {list(answered)}: missing {missing}.",
            param="tool_outputs",
        )
    if len(json.dumps(answered)) > MAX_TOOL_OUTPUTS_BYTES:
        raise InvalidRequestError(
            f"Invalid 'tool_outputs': the outputs exceed {MAX_TOOL_OUTPUTS_BYTES} bytes.",
            param="tool_outputs",
        )
    return answered


def answered_step(step: RunStep, outputs: dict[str, str], now: int) -> RunStep:
    calls = [
        {**call, "function": {**call["function"], "output": outputs[call["id"]]}}
        for call in step.step_details.get("tool_calls", [])
    ]
    details = {**step.step_details, "tool_calls": calls}
    return replace(step, status=StepStatus.COMPLETED, completed_at=now, step_details=details)


class ToolOutputService:
    def __init__(
        self, runs: RunRepository, queue: RunQueue, clock: Clock, *, stream: RunStreamService
    ) -> None:
        self._runs = runs
        self._queue = queue
        self._clock = clock
        self._stream = stream

    def submit(self, owner: str, thread_id: str, run_id: str, request: SubmitToolOutputsRequest) -> Run:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(run_id, ids.RUN, param="run_id")
        run = self._runs.get_run(owner, thread_id, run_id)
        outputs = check_outputs(run, request.tool_outputs)
        step = find_pending_step(self._runs, run)
        if step is None:  # the step is written with the requires_action status: only a race gets here
            raise InvalidRunStateError("The run's tool calls are no longer pending.")
        now = self._clock.now()
        updated = self._runs.transition_run(  # leaving requires_action clears required_action
            run,
            RunStatus.QUEUED,
            fields={"enqueued_at": now},  # the sweeper measures a lost message from here
            step_updates=[answered_step(step, outputs, int(now))],
        )
        enqueue_run(self._queue, updated)
        return updated

    def submit_streaming(
        self, owner: str, thread_id: str, run_id: str, request: SubmitToolOutputsRequest
    ) -> AsyncIterator[RunEvent]:
        """Submit (errors raise here, before any byte is streamed), then stream what the run does next."""
        cursor = self._stream.cursor(thread_id, run_id)
        return self._stream.in_stream_slot(
            owner, lambda: self.submit(owner, thread_id, run_id, request), thread_id, run_id, cursor
        )
