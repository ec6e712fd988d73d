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

Runs with the ``file_search`` tool are offered one more function, ``file_search`` (``gpu_worker.file_search``;
``tool_choice={"type": "file_search"}`` forces it on the first turn), for at most ``max_search_calls`` calls
per run. A turn that calls it is not a ``requires_action`` turn: the worker searches and records the step
completed, then generates the next turn (``gpu_worker.file_search_turns``); its results are this history's
call outputs (``render_search``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from assistants_core.domain import ids
from assistants_core.domain.models import JSONDict, Run, RunStep, Usage
from assistants_core.domain.status import RunStatus, StepStatus
from gpu_worker.engines.base import ChatMessage, OutputConstraint
from gpu_worker.file_search import (
    FILE_SEARCH,
    FILE_SEARCH_FUNCTION,
    SearchRenderer,
    is_search_call,
    offers_file_search,
    search_calls_of,
)
from gpu_worker.outcomes import Generation, RunOutcome, generation_outcome
from gpu_worker.tool_calls import AnsweredCall, ParsedCall, ToolCallFormat, parse_call_object
from gpu_worker.tool_stream import CallStreamParser, ForcedCallStream

TOOL_CALLS_STEP = "tool_calls"
CALL_ID_PREFIX = "call"


def function_definitions(run: Run) -> list[JSONDict]:
    return [tool["function"] for tool in run.tools if tool.get("type") == "function" and "function" in tool]


def offered_functions(
    run: Run, steps: Sequence[RunStep] = (), *, max_search_calls: int = 3
) -> list[JSONDict]:
    """What the model may call this turn: the run's functions, and ``file_search`` while the run has that
    tool and made fewer than ``max_search_calls`` searches (it shadows a function of the same name)."""
    if run.tool_choice == "none":
        return []
    functions = function_definitions(run)
    if offers_file_search(run) and search_calls_of(steps) < max_search_calls:
        functions = [function for function in functions if function["name"] != FILE_SEARCH]
        functions.append(FILE_SEARCH_FUNCTION)
    return functions


def forced_function_names(run: Run, functions: Sequence[JSONDict]) -> list[str]:
    """The functions one of which the first turn must call (empty when the model may reply instead)."""
    choice = run.tool_choice
    if choice == "required":
        return [function["name"] for function in functions]
    if isinstance(choice, dict) and choice.get("type") == "function":
        return [str(choice.get("function", {}).get("name", ""))]
    if isinstance(choice, dict) and choice.get("type") == FILE_SEARCH:
        return [FILE_SEARCH] if any(function["name"] == FILE_SEARCH for function in functions) else []
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


SearchOutput = Callable[[int, JSONDict], str]


def answered_call(turn: int, call: JSONDict, render_search: SearchOutput) -> AnsweredCall:
    """A stored call with its output: a function's submitted output, or a search's rendered results."""
    if is_search_call(call):
        details = call[FILE_SEARCH]
        arguments = json.dumps({"queries": details.get("queries") or []}, ensure_ascii=False)
        return AnsweredCall(name=FILE_SEARCH, arguments=arguments, output=render_search(turn, details))
    function = call["function"]
    return AnsweredCall(
        name=function["name"], arguments=function["arguments"], output=function.get("output") or ""
    )


def answered_turns(
    steps: Sequence[RunStep], render_search: SearchOutput | None = None
) -> list[list[AnsweredCall]]:
    """The completed ``tool_calls`` steps of a run, oldest first, as calls with their outputs."""
    render = render_search or SearchRenderer()
    turns: list[list[AnsweredCall]] = []
    for step in sorted(steps, key=lambda s: s.id):
        if step.type != TOOL_CALLS_STEP or step.status != StepStatus.COMPLETED:
            continue
        calls = step.step_details.get("tool_calls", [])
        turns.append([answered_call(len(turns), call, render) for call in calls])
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
    forced_search: bool = False  # ``tool_choice={"type": "file_search"}`` on this turn

    @property
    def offers_tools(self) -> bool:
        return bool(self.offered)

    def parse(self, text: str, tool_format: ToolCallFormat) -> list[ParsedCall]:
        parsed = parse_call_object(text.strip()) if self.forced else None
        calls = [parsed] if parsed is not None else tool_format.parse(text)
        offered = [call for call in calls if call.name in self.offered]
        if not offered and self.forced_search:
            # A forced search the model could not write (a small model cut off inside its queries) still
            # searches: with no queries, the newest user message (``file_search.queries_of``).
            return [ParsedCall(FILE_SEARCH, "{}")]
        return offered if self.parallel else offered[:1]

    def stream_parser(self, tool_format: ToolCallFormat) -> CallStreamParser:
        """Reads this turn's calls while they are generated, as ``parse`` reads them at the end."""
        return ForcedCallStream() if self.forced else tool_format.stream_parser()


def plan_turn(
    run: Run,
    steps: Sequence[RunStep],
    tool_format: ToolCallFormat,
    *,
    render_search: SearchOutput | None = None,
    max_search_calls: int = 3,
) -> ToolTurn:
    turns = answered_turns(steps, render_search)
    history = [message for calls in turns for message in tool_format.render_turn(calls)]
    functions = offered_functions(run, steps, max_search_calls=max_search_calls)
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
        forced_search=forced_names == [FILE_SEARCH],
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
    turn's usage, which the wire model shows only once the step has ended (``RunStepObject``). A file_search
    call stands in the step as ``{"id", "type": "file_search", "file_search": {"queries": [...]}}`` (raw
    arguments in ``arguments``): the worker runs such a turn itself (``file_search_turns``) and never writes
    this outcome."""
    tool_calls: list[dict[str, Any]] = [
        (
            {
                "id": tool_call_id(run, turn, index),
                "type": FILE_SEARCH,
                FILE_SEARCH: {"arguments": call.arguments},
            }
            if call.name == FILE_SEARCH and offers_file_search(run)
            else {
                "id": tool_call_id(run, turn, index),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        )
        for index, call in enumerate(calls)
    ]
    function_calls = [call for call in tool_calls if not is_search_call(call)]
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
            "tool_calls": [
                call if is_search_call(call) else {**call, "function": {**call["function"], "output": None}}
                for call in tool_calls
            ],
        },
        usage=generation.usage,
    )
    fields: dict[str, Any] = {
        "required_action": {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": function_calls},
        },
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
