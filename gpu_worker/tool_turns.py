"""One generation turn of a run with function tools: what the prompt offers, how the output is constrained,
and what the turn writes.

A run alternates turns: the model either calls functions (the run goes ``requires_action`` with a
``tool_calls`` step, in_progress, and waits for ``submit_tool_outputs``) or replies (the final message).
Turn ``n`` is the number of answered ``tool_calls`` steps of the run; step and call ids are derived from the
run id and the turn, so a retried or duplicated turn writes the same ids and the conditional final write
(lease held) lets only one of them through.

- ``tool_choice="none"``: no tools in the prompt, nothing parsed (a plain reply).
- ``"auto"``: the tools are described in the system prompt and calls are parsed out of the text.
- ``"required"`` / a named function: the first turn is constrained to one call object
  (``{"name": ..., "arguments": {...}}``) by structured output; later turns are ``auto`` so the run can end.
- ``parallel_tool_calls=false``: at most one call is kept.
- ``response_format`` ``json_object`` / ``json_schema`` constrains a reply turn the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.models import JSONDict, Run, RunStep, Usage
from assistants_core.domain.status import RunStatus, StepStatus
from gpu_worker.engines.base import ChatMessage, OutputConstraint
from gpu_worker.outcomes import Generation, RunOutcome, generation_outcome
from gpu_worker.tool_calls import AnsweredCall, ParsedCall, ToolCallFormat, parse_call_object
from gpu_worker.tool_stream import CallStreamParser, ForcedCallStream

TOOL_CALLS_STEP = "tool_calls"
CALL_ID_PREFIX = "call"


def function_definitions(run: Run) -> list[JSONDict]:
    return [tool["function"] for tool in run.tools if tool.get("type") == "function" and "function" in tool]


def forced_function_names(run: Run, functions: Sequence[JSONDict]) -> list[str]:
    """The functions one of which the first turn must call (empty when the model may reply instead)."""
    choice = run.tool_choice
    if choice == "required":
        return [function["name"] for function in functions]
    if isinstance(choice, dict) and choice.get("type") == "function":
        return [str(choice.get("function", {}).get("name", ""))]
    return []


def call_object_schema(functions: Sequence[JSONDict], names: Sequence[str]) -> JSONDict:
    """JSON schema of one call ``{"name": <one of names>, "arguments": <that function's parameters>}``."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "enum": [function["name"]]},
                "arguments": function.get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for function in functions
        if function["name"] in names
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def response_format_constraint(response_format: Any) -> OutputConstraint | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return OutputConstraint()
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
        return OutputConstraint(schema or {"type": "object"})
    return None


def answered_turns(steps: Sequence[RunStep]) -> list[list[AnsweredCall]]:
    """The completed ``tool_calls`` steps of a run, oldest first, as calls with their outputs."""
    turns = []
    for step in sorted(steps, key=lambda s: s.id):
        if step.type != TOOL_CALLS_STEP or step.status != StepStatus.COMPLETED:
            continue
        calls = step.step_details.get("tool_calls", [])
        turns.append(
            [
                AnsweredCall(
                    name=call["function"]["name"],
                    arguments=call["function"]["arguments"],
                    output=call["function"].get("output") or "",
                )
                for call in calls
            ]
        )
    return turns


@dataclass(frozen=True, slots=True)
class ToolTurn:
    """What one turn of ``run`` looks like; ``number`` counts the tool turns answered before it."""

    number: int
    tools_text: str | None
    history: list[ChatMessage]
    constraint: OutputConstraint | None
    offered: frozenset[str]
    forced: bool
    parallel: bool

    @property
    def offers_tools(self) -> bool:
        return bool(self.offered)

    def parse(self, text: str, tool_format: ToolCallFormat) -> list[ParsedCall]:
        parsed = parse_call_object(text.strip()) if self.forced else None
        calls = [parsed] if parsed is not None else tool_format.parse(text)
        offered = [call for call in calls if call.name in self.offered]
        return offered if self.parallel else offered[:1]

    def stream_parser(self, tool_format: ToolCallFormat) -> CallStreamParser:
        """Reads this turn's calls while they are generated, as ``parse`` reads them at the end."""
        return ForcedCallStream() if self.forced else tool_format.stream_parser()


def plan_turn(run: Run, steps: Sequence[RunStep], tool_format: ToolCallFormat) -> ToolTurn:
    turns = answered_turns(steps)
    history = [message for calls in turns for message in tool_format.render_turn(calls)]
    functions = function_definitions(run) if run.tool_choice != "none" else []
    forced_names = forced_function_names(run, functions) if not turns else []
    constraint = (
        OutputConstraint(call_object_schema(functions, forced_names))
        if forced_names
        else response_format_constraint(run.response_format)
    )
    return ToolTurn(
        number=len(turns),
        tools_text=(
            tool_format.describe_tools(functions, parallel=run.parallel_tool_calls) if functions else None
        ),
        history=history,
        constraint=constraint,
        offered=frozenset(function["name"] for function in functions),
        forced=bool(forced_names),
        parallel=run.parallel_tool_calls,
    )


# -- what a turn writes -------------------------------------------------------------------------------------
def tool_calls_step_id(run: Run, turn: int) -> str:
    return ids.derived_id(ids.STEP, run.id, f"c{turn:02d}")


def tool_call_id(run: Run, turn: int, index: int) -> str:
    return ids.derived_id(CALL_ID_PREFIX, run.id, f"{turn:02d}{index:02d}")


def total_usage(run: Run, usage: Usage) -> Usage:
    """This turn's usage plus the earlier turns' (the run's usage covers every turn)."""
    prior = run.usage or Usage(0, 0)
    return Usage(prior.prompt_tokens + usage.prompt_tokens, prior.completion_tokens + usage.completion_tokens)


def tool_calls_outcome(
    run: Run, turn: int, calls: Sequence[ParsedCall], generation: Generation, now: float
) -> RunOutcome:
    """requires_action: the calls in ``required_action`` and an in_progress ``tool_calls`` step; the lease is
    released (no worker holds a run that waits for its client), the thread stays locked. The step keeps the
    turn's usage, which the wire model shows only once the step has ended (``RunStepObject``)."""
    tool_calls: list[dict[str, Any]] = [
        {
            "id": tool_call_id(run, turn, index),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for index, call in enumerate(calls)
    ]
    step = RunStep(
        id=tool_calls_step_id(run, turn),
        owner=run.owner,
        thread_id=run.thread_id,
        run_id=run.id,
        assistant_id=run.assistant_id,
        created_at=int(now),
        type=TOOL_CALLS_STEP,
        status=StepStatus.IN_PROGRESS,
        step_details={
            "type": TOOL_CALLS_STEP,
            "tool_calls": [{**call, "function": {**call["function"], "output": None}} for call in tool_calls],
        },
        usage=generation.usage,
    )
    fields: dict[str, Any] = {
        "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": tool_calls}},
        "usage": total_usage(run, generation.usage),
        "lease_owner": None,
        "lease_expires_at": None,
    }
    return RunOutcome(RunStatus.REQUIRES_ACTION, fields, None, [step])


def reply_outcome(
    run: Run, turn: int, generation: Generation, now: float, *, started_at: float
) -> RunOutcome:
    """The final message of a run (turn ``turn``), announced at ``started_at``, its usage summed over every
    turn."""
    outcome = generation_outcome(run, generation, now, started_at=started_at, turn=turn)
    return replace(outcome, fields={**outcome.fields, "usage": total_usage(run, generation.usage)})
