"""A turn that offers functions streams while it is generated (issue 14), through the real consumer, event
log and run repository (moto) with the scripted engine: text deltas held back only at a possible call
marker, the call as a ``tool_calls`` step with argument deltas that add up to ``required_action``, and what
is stored unchanged."""

from __future__ import annotations

import asyncio
import json

import pytest

from assistants_core.adapters.dynamodb import DynamoAssistantRepository
from assistants_core.domain.models import PageRequest, Run
from assistants_core.domain.run_events import RunEvent
from assistants_core.domain.status import RunStatus
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.maintenance import RunMaintenance
from gpu_worker.engines.scripted import ScriptedEngine, call_marker
from tests.worker.stream_view import StreamView, required_calls, view_of
from tests.worker.test_run_events import stream_service, streamed
from tests.worker.world import OWNER, World, wait_until

LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
CLOCK = {
    "type": "function",
    "function": {
        "name": "clock",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}
TOOLS = [LOOKUP, CLOCK]
NOT_TEXT = ("<tool_call>", '{"name"', "</tool_call>")


def run_with(world: World, text: str, engine: ScriptedEngine | None = None, **run_fields: object) -> Run:
    thread = world.thread_with_messages(text)
    run = world.new_run(thread, tools=TOOLS, stream_log_seq=0, **run_fields)
    asyncio.run(world.consumer(engine or ScriptedEngine()).run_until_idle())
    return world.stored(run)


def log_of(world: World, run: Run) -> list[RunEvent]:
    return world.events.read(run.thread_id, run.id, limit=1000)


def assert_calls_streamed_as_stored(view: StreamView, run: Run) -> None:
    (step_id,) = view.tool_steps()
    stored = run.required_action
    assert stored is not None
    assert view.calls(step_id) == required_calls({"required_action": stored})
    # OpenAI's order: the step's created and in_progress, its deltas, then requires_action.
    opened = max(index for index, name in enumerate(view.names) if name == "thread.run.step.created")
    assert view.names[opened + 1] == "thread.run.step.in_progress"
    assert set(view.names[opened + 2 : -1]) == {"thread.run.step.delta"}
    assert view.names[-1] == "thread.run.requires_action"


def assert_no_call_text(view: StreamView) -> None:
    for text in view.texts.values():
        assert not any(fragment in text for fragment in NOT_TEXT), text
        assert not text.endswith("<")


def test_text_only_turn_streams_its_reply_as_stored(world: World) -> None:
    run = run_with(world, "plain question with < and <tool_c in it")
    assert run.status == RunStatus.COMPLETED
    view = view_of(log_of(world, run))
    (reply,) = world.assistant_messages(world.threads.get_thread(OWNER, run.thread_id))
    assert view.texts == {reply.id: reply.text()}
    assert reply.text() == "You said: plain question with < and <tool_c in it"
    assert view.tool_steps() == [] and view.names[-1] == "thread.run.completed"


def test_text_streams_before_the_tool_offering_turn_ends(world: World) -> None:
    thread = world.thread_with_messages("long answer")
    run = world.new_run(thread, tools=TOOLS, stream_log_seq=0)
    slow = ScriptedEngine(token_delay_seconds=0.002, reply_tokens=400)

    async def watch() -> None:
        worker = asyncio.create_task(world.consumer(slow).run_until_idle())
        await wait_until(lambda: any(e.event == "thread.message.delta" for e in log_of(world, run)))
        assert world.stored(run).status == RunStatus.IN_PROGRESS  # streamed while still generating
        await worker

    asyncio.run(watch())
    assert world.stored(run).status == RunStatus.COMPLETED


def test_call_only_turn_streams_a_tool_calls_step(world: World) -> None:
    run = run_with(world, call_marker("clock", {"zone": "CET"}))
    assert run.status == RunStatus.REQUIRES_ACTION
    view = view_of(log_of(world, run))
    assert view.texts == {} and "thread.message.created" not in view.names
    assert_calls_streamed_as_stored(view, run)
    created = view.names.index("thread.run.step.created")
    assert view.names[created + 1 : created + 3] == ["thread.run.step.in_progress", "thread.run.step.delta"]
    first_delta = next(e for e in log_of(world, run) if e.event == "thread.run.step.delta")
    (entry,) = first_delta.data["delta"]["step_details"]["tool_calls"]
    assert entry["index"] == 0 and entry["type"] == "function" and entry["id"].startswith("call_")
    assert entry["function"]["name"] == "clock" and entry["function"]["output"] is None


def test_text_then_call_ends_the_message_before_the_step(world: World) -> None:
    run = run_with(world, "[[say:Let me check the clock.]] " + call_marker("clock", {"zone": "UTC"}))
    assert run.status == RunStatus.REQUIRES_ACTION
    view = view_of(log_of(world, run))
    assert list(view.texts.values()) == ["Let me check the clock.\n"]
    names = view.names
    assert names.index("thread.message.completed") < names.index("thread.run.step.created", 2)
    step_events = [e for e in log_of(world, run) if e.event.startswith("thread.run.step.")]
    assert [(e.event, e.data["type"]) for e in step_events[:3]] == [
        ("thread.run.step.created", "message_creation"),
        ("thread.run.step.in_progress", "message_creation"),
        ("thread.run.step.completed", "message_creation"),
    ]
    assert_calls_streamed_as_stored(view, run)
    # Stored as before: the calls only, no assistant message.
    assert world.assistant_messages(world.threads.get_thread(OWNER, run.thread_id)) == []


def test_two_parallel_calls_stream_with_their_indexes(world: World) -> None:
    text = call_marker("lookup", {"q": "a b"}) + " " + call_marker("clock", {"zone": "CET"})
    run = run_with(world, text)
    view = view_of(log_of(world, run))
    assert_calls_streamed_as_stored(view, run)
    assert [name for _, name, _ in view.calls(view.tool_steps()[0])] == ["lookup", "clock"]


def test_parallel_false_streams_only_the_kept_call(world: World) -> None:
    text = call_marker("lookup", {"q": "a"}) + " " + call_marker("clock", {"zone": "CET"})
    run = run_with(world, text, parallel_tool_calls=False)
    view = view_of(log_of(world, run))
    assert_calls_streamed_as_stored(view, run)
    assert len(view.calls(view.tool_steps()[0])) == 1


@pytest.mark.parametrize("chunk_chars", [1, 2, 3, 5])
def test_a_marker_split_across_engine_chunks_never_reaches_the_text(world: World, chunk_chars: int) -> None:
    text = "[[say:Checking <now>.]] " + call_marker("clock", {"zone": "Europe/Paris \u00e9"})
    run = run_with(world, text, ScriptedEngine(chunk_chars=chunk_chars))
    view = view_of(log_of(world, run))
    assert list(view.texts.values()) == ["Checking <now>.\n"]
    assert_no_call_text(view)
    assert_calls_streamed_as_stored(view, run)
    assert json.loads(view.calls(view.tool_steps()[0])[0][2]) == {"zone": "Europe/Paris \u00e9"}


def test_a_marker_like_string_that_is_not_a_call_is_text(world: World) -> None:
    said = "use <tool_call> tags or <tool_callback> here</tool_call> fine"
    run = run_with(world, said, ScriptedEngine(chunk_chars=2))
    assert run.status == RunStatus.COMPLETED
    view = view_of(log_of(world, run))
    (reply,) = world.assistant_messages(world.threads.get_thread(OWNER, run.thread_id))
    assert reply.text() == "You said: " + said
    assert view.texts == {reply.id: reply.text()} and view.tool_steps() == []


def test_a_call_that_turns_out_malformed_is_repaired_into_the_stored_reply(world: World) -> None:
    said = '<tool_call>{"name": "lookup", "arguments": {"q": 1}} trailing</tool_call>'
    run = run_with(world, said)
    assert run.status == RunStatus.COMPLETED  # not a call as stored: a reply
    view = view_of(log_of(world, run))
    (reply,) = world.assistant_messages(world.threads.get_thread(OWNER, run.thread_id))
    assert view.texts == {reply.id: reply.text()} == {reply.id: "You said: " + said}
    (step_id,) = view.tool_steps()
    assert view.steps[step_id]["status"] == "failed"
    assert view.names[-1] == "thread.run.completed"


def test_forced_call_streams_its_arguments(world: World) -> None:
    run = run_with(world, "what time", ScriptedEngine(chunk_chars=4), tool_choice="required")
    assert run.status == RunStatus.REQUIRES_ACTION
    view = view_of(log_of(world, run))
    assert view.texts == {}
    assert_calls_streamed_as_stored(view, run)
    deltas = [e for e in log_of(world, run) if e.event == "thread.run.step.delta"]
    assert len(deltas) >= 1


def test_named_forced_call_streams_that_function(world: World) -> None:
    choice = {"type": "function", "function": {"name": "clock"}}
    run = run_with(world, "what time", tool_choice=choice)
    view = view_of(log_of(world, run))
    assert_calls_streamed_as_stored(view, run)
    assert view.calls(view.tool_steps()[0])[0][1] == "clock"


def test_reclaimed_run_restarts_its_streamed_calls(
    world: World, assistant_repo: DynamoAssistantRepository
) -> None:
    thread = world.thread_with_messages(call_marker("lookup", {"q": "x" * 400}))
    run = world.new_run(thread, tools=TOOLS, stream_log_seq=0)
    slow = ScriptedEngine(token_delay_seconds=0.002, chunk_chars=1)

    async def kill_after_a_step_delta() -> None:
        worker = asyncio.create_task(world.consumer(slow, worker_id="worker-a").run_forever())
        await wait_until(lambda: any(e.event == "thread.run.step.delta" for e in log_of(world, run)))
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(kill_after_a_step_delta())
    world.clock.advance(60 + 31)
    maintenance = RunMaintenance(
        with_run_events(world.runs, world.events), world.queue, world.clock, requeue_after_seconds=120
    )
    assert maintenance.sweep().requeued == [run.id]
    asyncio.run(world.consumer(ScriptedEngine(chunk_chars=7), worker_id="worker-b").run_until_idle())

    events = streamed(stream_service(world, assistant_repo), thread, run)
    view = view_of(events)
    assert view.names.count("thread.run.step.created") == 2
    stored = world.stored(run)
    assert stored.status == RunStatus.REQUIRES_ACTION and stored.attempts == 2
    assert_calls_streamed_as_stored(view, stored)
    steps = world.runs.list_steps(OWNER, thread.id, run.id, PageRequest(limit=10, order="asc")).data
    assert [step.type for step in steps] == ["tool_calls"]
