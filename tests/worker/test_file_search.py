"""file_search in runs through the real consumer, repositories (moto), ingestion and search, with the scripted
engine: the search turn recorded completed and answered in the same claim, citations (parsed and fallback),
tool_choice, ranking settings, waiting for ingestion, a mixed function + file_search turn, streaming, a
worker killed between turns and a duplicated delivery."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoAssistantRepository, DynamoTable
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_chunks import S3ChunkIndex
from assistants_core.adapters.s3_objects import S3ObjectStore
from assistants_core.adapters.sqs_ingestion import SqsIngestionQueue
from assistants_core.domain import ids
from assistants_core.domain.models import Assistant, Message, PageRequest, Run, RunStep, Thread
from assistants_core.domain.status import RunStatus, StepStatus
from assistants_core.schemas.vector_stores import CreateVectorStoreRequest
from assistants_core.services.files import FileService
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.services.vector_store_files import VectorStoreFileService
from assistants_core.services.vector_store_search import VectorStoreSearchService
from assistants_core.services.vector_stores import VectorStoreService
from gpu_worker.consumer_config import ConsumerConfig
from gpu_worker.engines.base import ChatMessage, OutputConstraint
from gpu_worker.engines.scripted import ScriptedEngine, call_marker
from gpu_worker.file_search import FileSearcher
from gpu_worker.ingestion.chunking import TokenCounter
from gpu_worker.ingestion.consumer import IngestionConfig, IngestionConsumer
from gpu_worker.ingestion.embedders import HashingEmbedder, bundled_minilm_path
from gpu_worker.tool_turns import tool_call_id, tool_calls_step_id
from infra.aws_resources import ResourceNames
from tests.e2e.stream_invariants import check_stream
from tests.worker.stream_view import view_of
from tests.worker.world import FAST_CONFIG, OWNER, World, wait_until

FILE_SEARCH_TOOL = {"type": "file_search"}
LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
LIGHTHOUSE = b"The harbour lighthouse keeper writes down every ship that passes at dawn."
VOLCANO = b"Volcano ash closes the island airport twice a year, mostly in spring."


def search_marker(*queries: str) -> str:
    return call_marker("file_search", {"queries": list(queries)})


@dataclass
class Library:
    """Files, vector stores and their ingestion beside the run ``World``, sharing its table and clock."""

    world: World
    files: FileService
    stores: VectorStoreService
    assistants: DynamoAssistantRepository
    ingestion: IngestionConsumer
    searcher: FileSearcher

    def store_with(self, **documents: bytes) -> tuple[str, dict[str, str]]:
        file_ids = {
            name: self.files.create(
                OWNER, filename=name, purpose="assistants", data=data, content_type="x"
            ).id
            for name, data in documents.items()
        }
        store = self.stores.create(
            OWNER, CreateVectorStoreRequest(name="docs", file_ids=list(file_ids.values()))
        )
        return store.id, file_ids

    def ingest(self) -> None:
        while self.ingestion.run_once(wait_seconds=0):
            pass

    def assistant(self, *store_ids: str) -> str:
        assistant = Assistant(
            id=ids.new_id(ids.ASSISTANT),
            owner=OWNER,
            created_at=int(self.world.clock.now()),
            model="scripted",
            tool_resources={"file_search": {"vector_store_ids": list(store_ids)}},
        )
        self.assistants.put_assistant(assistant)
        return assistant.id

    def consume(self, engine: ScriptedEngine, **options: Any) -> None:
        asyncio.run(self.consumer(engine, **options).run_until_idle())

    def consumer(
        self, engine: ScriptedEngine, *, worker_id: str = "worker-a", config: ConsumerConfig = FAST_CONFIG
    ) -> Any:
        return self.world.consumer(engine, worker_id=worker_id, config=config, file_searcher=self.searcher)


@pytest.fixture
def library(
    world: World,
    aws_clients: AwsClients,
    aws_resources: ResourceNames,
    dynamo_table: DynamoTable,
    assistant_repo: DynamoAssistantRepository,
) -> Library:
    bucket = aws_resources.bucket_name
    objects = S3ObjectStore(aws_clients.s3, bucket)
    index = S3ChunkIndex(aws_clients.s3, bucket)
    file_repository = DynamoFileRepository(dynamo_table)
    repository = DynamoVectorStoreRepository(dynamo_table)
    queue = SqsIngestionQueue(aws_clients.sqs, aws_resources.ingestion_queue_url)
    store_files = VectorStoreFileService(repository, file_repository, queue, index, world.clock)
    embedder = HashingEmbedder()
    ingestion = IngestionConsumer(
        queue,
        repository,
        files=file_repository,
        objects=objects,
        index=index,
        embedder=embedder,
        counter=TokenCounter(bundled_minilm_path() / "tokenizer.json"),
        clock=world.clock,
        config=IngestionConfig(lease_seconds=60, receive_wait_seconds=0),
    )
    search = VectorStoreSearchService(repository, index, embedder, world.clock)
    return Library(
        world=world,
        files=FileService(file_repository, objects, world.clock, detach=store_files.detach_everywhere),
        stores=VectorStoreService(repository, file_repository, store_files, index, world.clock),
        assistants=assistant_repo,
        ingestion=ingestion,
        searcher=FileSearcher(assistant_repo, world.threads, repository, search),
    )


def steps_of(world: World, run: Run) -> list[RunStep]:
    return world.runs.list_steps(OWNER, run.thread_id, run.id, PageRequest(limit=100, order="asc")).data


def only_reply(world: World, thread: Thread) -> Message:
    (reply,) = world.assistant_messages(thread)
    return reply


def annotations(message: Message) -> list[dict[str, Any]]:
    annotated: list[dict[str, Any]] = message.content[0]["text"]["annotations"]
    return annotated


def searched_run(library: Library, text: str, **run_options: Any) -> tuple[Thread, Run, dict[str, str]]:
    store, file_ids = library.store_with(**{"lighthouse.txt": LIGHTHOUSE, "volcano.txt": VOLCANO})
    library.ingest()
    thread = library.world.thread_with_messages(text)
    options: dict[str, Any] = {"tools": [FILE_SEARCH_TOOL], **run_options}
    run = library.world.new_run(thread, assistant_id=library.assistant(store), **options)
    return thread, run, file_ids


def test_a_search_turn_is_recorded_completed_and_answered_in_the_same_claim(library: Library) -> None:
    world = library.world
    thread, run, file_ids = searched_run(
        library, "Who logs ships? " + search_marker("lighthouse keeper ships")
    )
    engine = ScriptedEngine()
    library.consume(engine)

    done = world.stored(run)
    assert (done.status, done.attempts) == (RunStatus.COMPLETED, 1)
    search, reply_step = steps_of(world, done)
    assert (search.id, search.type, search.status) == (tool_calls_step_id(run, 0), "tool_calls", "completed")
    (call,) = search.step_details["tool_calls"]
    assert (call["id"], call["type"]) == (tool_call_id(run, 0, 0), "file_search")
    details = call["file_search"]
    assert details["queries"] == ["lighthouse keeper ships"]
    assert details["ranking_options"] == {"ranker": "default_2024_08_21", "score_threshold": 0.0}
    best = details["results"][0]
    assert (best["file_id"], best["file_name"]) == (file_ids["lighthouse.txt"], "lighthouse.txt")
    assert best["content"] == [{"type": "text", "text": LIGHTHOUSE.decode()}]
    assert [r["score"] for r in details["results"]] == sorted(
        (r["score"] for r in details["results"]), reverse=True
    )
    assert reply_step.type == "message_creation" and reply_step.status == StepStatus.COMPLETED

    # Two turns in one claim: the first offered file_search, the second read its results as the call's output.
    first, second = (engine.prompts[key] for key in sorted(engine.prompts))
    assert '"name": "file_search"' in first[0].content
    tool_output = second[-1]
    assert tool_output.role == "tool" and tool_output.content.startswith("【0:0†lighthouse.txt】 The harbour")

    # The scripted model echoes the results, markers included: each marker is a file_citation annotation.
    reply = only_reply(world, thread)
    value = reply.text()
    assert value.startswith("Tool said: 【0:0†lighthouse.txt】")
    cited = annotations(reply)
    assert cited and all(value[a["start_index"] : a["end_index"]] == a["text"] for a in cited)
    assert cited[0]["file_citation"] == {"file_id": file_ids["lighthouse.txt"]}
    assert {a["type"] for a in cited} == {"file_citation"}
    # The run's usage sums both turns.
    assert done.usage is not None and search.usage is not None and reply_step.usage is not None
    assert done.usage.completion_tokens == search.usage.completion_tokens + reply_step.usage.completion_tokens
    assert done.usage.prompt_tokens == search.usage.prompt_tokens + reply_step.usage.prompt_tokens
    assert world.threads.get_thread(OWNER, thread.id).active_run_id is None


def test_tool_choice_file_search_forces_a_search_of_the_user_message(library: Library) -> None:
    _, run, file_ids = searched_run(library, "lighthouse keeper", tool_choice={"type": "file_search"})
    library.consume(ScriptedEngine())
    search, _ = steps_of(library.world, library.world.stored(run))
    (call,) = search.step_details["tool_calls"]
    assert call["file_search"]["queries"] == ["lighthouse keeper"]  # the forced call's query: the message
    assert call["file_search"]["results"][0]["file_id"] == file_ids["lighthouse.txt"]
    assert library.world.stored(run).status == RunStatus.COMPLETED


def test_max_num_results_and_score_threshold_come_from_the_tool(library: Library) -> None:
    tool = {"type": "file_search", "file_search": {"max_num_results": 1}}
    thread, run, _ = searched_run(library, "? " + search_marker("volcano ash"), tools=[tool])
    library.consume(ScriptedEngine())
    (call,) = steps_of(library.world, run)[0].step_details["tool_calls"]
    assert [r["file_name"] for r in call["file_search"]["results"]] == ["volcano.txt"]

    strict = {"type": "file_search", "file_search": {"ranking_options": {"score_threshold": 1.0}}}
    thread, run, _ = searched_run(library, "? " + search_marker("nothing matches this"), tools=[strict])
    engine = ScriptedEngine()
    library.consume(engine)
    (call,) = steps_of(library.world, run)[0].step_details["tool_calls"]
    assert call["file_search"]["results"] == []
    assert call["file_search"]["ranking_options"]["score_threshold"] == 1.0
    reply = only_reply(library.world, thread)
    assert reply.text() == "Tool said: No results found in the attached files."
    assert annotations(reply) == []  # nothing was shown, nothing is appended


class PlainAfterSearchEngine(ScriptedEngine):
    """A model that answers without citing what it read (as the local 135M often does)."""

    def reply_words(
        self, messages: Sequence[ChatMessage], constraint: OutputConstraint | None = None
    ) -> list[str]:
        if messages and messages[-1].role == "tool":
            return ["Ships", "are", "logged."]
        return super().reply_words(messages, constraint)


def test_a_reply_that_cites_nothing_gets_its_sources_appended_unless_turned_off(library: Library) -> None:
    thread, _, file_ids = searched_run(library, "? " + search_marker("lighthouse"))
    library.consume(PlainAfterSearchEngine())
    reply = only_reply(library.world, thread)
    assert reply.text().startswith("Ships are logged.\n\n【0:0†lighthouse.txt】")
    (first, *others) = annotations(reply)
    assert first["file_citation"] == {"file_id": file_ids["lighthouse.txt"]}
    assert (
        reply.text()[first["start_index"] : first["end_index"]] == first["text"] == "【0:0†lighthouse.txt】"
    )
    assert len({a["file_citation"]["file_id"] for a in [first, *others]}) == 1 + len(others)  # one per file

    thread, _, _ = searched_run(library, "? " + search_marker("lighthouse"))
    library.consume(
        PlainAfterSearchEngine(), config=replace(FAST_CONFIG, file_search_fallback_citations=False)
    )
    reply = only_reply(library.world, thread)
    assert (reply.text(), annotations(reply)) == ("Ships are logged.", [])


def test_the_run_waits_for_its_stores_to_finish_ingesting(library: Library) -> None:
    store, file_ids = library.store_with(**{"lighthouse.txt": LIGHTHOUSE})
    thread = library.world.thread_with_messages("? " + search_marker("lighthouse"))
    # The store is the thread's (FILE_SEARCH_CONTRACT item 1: thread stores are searched too).
    tool_resources = {"file_search": {"vector_store_ids": [store]}}
    library.world.threads.replace_thread_fields(replace(thread, tool_resources=tool_resources))
    run = library.world.new_run(thread, tools=[FILE_SEARCH_TOOL])
    engine = ScriptedEngine()

    async def scenario() -> None:
        worker = asyncio.create_task(library.consumer(engine).run_until_idle())
        await wait_until(lambda: library.world.stored(run).status == RunStatus.IN_PROGRESS)
        await asyncio.sleep(0.2)
        assert engine.prompts == {}  # still waiting: the file is in progress
        await asyncio.to_thread(library.ingest)
        await worker

    asyncio.run(scenario())
    (call,) = steps_of(library.world, run)[0].step_details["tool_calls"]
    assert [r["file_id"] for r in call["file_search"]["results"]] == [file_ids["lighthouse.txt"]]


def test_a_run_that_cannot_wait_longer_searches_what_is_completed(library: Library) -> None:
    store, _ = library.store_with(**{"lighthouse.txt": LIGHTHOUSE})  # never ingested
    thread = library.world.thread_with_messages("? " + search_marker("lighthouse"))
    run = library.world.new_run(thread, tools=[FILE_SEARCH_TOOL], assistant_id=library.assistant(store))
    library.consume(ScriptedEngine(), config=replace(FAST_CONFIG, file_search_ingestion_wait_seconds=0.0))
    (call,) = steps_of(library.world, run)[0].step_details["tool_calls"]
    assert call["file_search"]["results"] == []
    assert library.world.stored(run).status == RunStatus.COMPLETED


def test_a_mixed_function_and_search_turn_records_only_the_search(library: Library) -> None:
    text = "? " + call_marker("lookup", {"q": "x"}) + " " + search_marker("lighthouse")
    _, run, _ = searched_run(library, text, tools=[LOOKUP, FILE_SEARCH_TOOL])
    library.consume(ScriptedEngine())
    done = library.world.stored(run)
    assert done.status == RunStatus.COMPLETED and done.required_action is None
    search, _ = steps_of(library.world, done)
    # The search kept the id it streamed under (call 1 of turn 0); the function call was dropped.
    assert [(c["id"], c["type"]) for c in search.step_details["tool_calls"]] == [
        (tool_call_id(run, 0, 1), "file_search")
    ]


def test_search_runs_stream_the_step_then_the_cited_reply(library: Library) -> None:
    thread, run, file_ids = searched_run(library, "? " + search_marker("lighthouse"), stream_log_seq=0)
    library.consume(ScriptedEngine(token_delay_seconds=0.001))
    log = library.world.events.read(thread.id, run.id, limit=1000)
    names = [event.event for event in log]
    step_id = tool_calls_step_id(run, 0)
    step_events = [e.event for e in log if e.event.startswith("thread.run.step.") and e.data["id"] == step_id]
    assert step_events == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.delta",
        "thread.run.step.completed",
    ]
    announced, results = (
        e.data for e in log if e.event == "thread.run.step.delta" and e.data["id"] == step_id
    )
    assert announced["delta"]["step_details"]["tool_calls"] == [
        {"index": 0, "id": tool_call_id(run, 0, 0), "type": "file_search", "file_search": {}}
    ]
    (entry,) = results["delta"]["step_details"]["tool_calls"]
    assert (entry["index"], entry["type"]) == (0, "file_search") and "queries" not in entry["file_search"]
    completed = next(
        e.data for e in log if e.event == "thread.run.step.completed" and e.data["id"] == step_id
    )
    stored = completed["step_details"]["tool_calls"][0]["file_search"]
    assert stored["results"][0]["file_id"] == file_ids["lighthouse.txt"]
    # What a client accumulates from the created event and the deltas is the stored call, less its queries.
    accumulated = view_of(log).steps[step_id]["step_details"]["tool_calls"][0]
    assert accumulated["file_search"] == {k: v for k, v in stored.items() if k != "queries"}
    assert names.count("thread.run.in_progress") == 1  # recording the search changes no run status
    assert names.index("thread.run.step.completed") < names.index("thread.message.created")
    message_done = next(e.data for e in log if e.event == "thread.message.completed")
    assert (
        message_done["content"][0]["text"]["annotations"][0]["file_citation"]["file_id"]
        == (file_ids["lighthouse.txt"])
    )
    view = view_of(log)
    assert view.texts[message_done["id"]] == message_done["content"][0]["text"]["value"]
    assert names[-1] == "thread.run.completed"
    events = [(event.event, event.data) for event in log]
    assert list(check_stream("worker log", events, finished=False)) == []


def test_appended_citations_stream_as_the_last_delta(library: Library) -> None:
    thread, run, _ = searched_run(library, "? " + search_marker("lighthouse"), stream_log_seq=0)
    library.consume(PlainAfterSearchEngine())
    log = library.world.events.read(thread.id, run.id, limit=1000)
    done = next(e.data for e in log if e.event == "thread.message.completed")
    assert view_of(log).texts[done["id"]] == done["content"][0]["text"]["value"]
    assert done["content"][0]["text"]["value"] == "Ships are logged.\n\n【0:0†lighthouse.txt】"
    assert view_of(log).text_deltas[-1] == "\n\n【0:0†lighthouse.txt】"


class StallingSecondTurn(ScriptedEngine):
    """Generates the search turn, then hangs in the next one (the process is killed there)."""

    async def generate(self, request_id: str, messages: Sequence[ChatMessage], options: Any) -> Any:
        if len(self.prompts) >= 1:
            self.prompts[request_id] = list(messages)
            await asyncio.Event().wait()
        async for chunk in super().generate(request_id, messages, options):
            yield chunk


def test_a_worker_killed_between_turns_is_continued_without_searching_again(library: Library) -> None:
    world = library.world
    thread, run, _ = searched_run(library, "? " + search_marker("lighthouse"))
    stalling = StallingSecondTurn()

    async def kill_after_the_search() -> None:
        worker = asyncio.create_task(library.consumer(stalling).run_forever())
        await wait_until(lambda: len(stalling.prompts) == 2)  # the search is recorded, the reply started
        worker.cancel()  # the process dies
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(kill_after_the_search())
    held = world.stored(run)
    assert (held.status, held.lease_owner) == (RunStatus.IN_PROGRESS, "worker-a")
    (recorded,) = steps_of(world, held)
    assert recorded.status == StepStatus.COMPLETED and held.usage is not None  # the first turn's usage

    world.clock.advance(60 + 31)
    maintenance = RunMaintenance(world.runs, world.queue, world.clock, requeue_after_seconds=120)
    assert maintenance.sweep().requeued == [run.id]
    rescuer = ScriptedEngine()
    library.consume(rescuer, worker_id="worker-b")

    done = world.stored(run)
    assert (done.status, done.attempts, done.lease_owner) == (RunStatus.COMPLETED, 2, "worker-b")
    assert list(rescuer.prompts) == [f"{run.id}-2"]  # one turn: the reply, reading the recorded results
    assert rescuer.prompts[f"{run.id}-2"][-1].content.startswith("【0:0†lighthouse.txt】")
    search, reply_step = steps_of(world, done)
    assert search == recorded  # never written twice
    assert only_reply(world, thread).text().startswith("Tool said: 【0:0†lighthouse.txt】")
    assert done.usage is not None and reply_step.usage is not None and recorded.usage is not None
    assert (
        done.usage.completion_tokens == recorded.usage.completion_tokens + reply_step.usage.completion_tokens
    )


def test_a_duplicated_delivery_searches_and_answers_once(library: Library) -> None:
    world = library.world
    thread, run, _ = searched_run(library, "? " + search_marker("lighthouse"))
    world.enqueue(run)  # delivered twice
    engines = [ScriptedEngine(token_delay_seconds=0.002) for _ in range(2)]

    async def both() -> None:
        await asyncio.gather(
            library.consumer(engines[0], worker_id="worker-a").run_until_idle(),
            library.consumer(engines[1], worker_id="worker-b").run_until_idle(),
        )

    asyncio.run(both())
    assert sorted(len(engine.prompts) for engine in engines) == [0, 2]  # one holder ran both turns
    done = world.stored(run)
    assert (done.status, done.attempts) == (RunStatus.COMPLETED, 1)
    assert [step.type for step in steps_of(world, done)] == ["tool_calls", "message_creation"]
    assert len(world.assistant_messages(thread)) == 1


def test_searches_stop_being_offered_after_the_run_made_max_calls(library: Library) -> None:
    _, run, _ = searched_run(library, "? " + search_marker("lighthouse"))

    class SearchesAgain(ScriptedEngine):
        def reply_words(self, messages: Sequence[ChatMessage], constraint: Any = None) -> list[str]:
            offered = '"name": "file_search"' in messages[0].content
            if offered:
                return [
                    '<tool_call>{"name":',
                    '"file_search",',
                    '"arguments":',
                    '{"queries":',
                    '["again"]}}</tool_call>',
                ]
            return ["Done."]

    engine = SearchesAgain()
    library.consume(engine, config=replace(FAST_CONFIG, file_search_max_calls=2))
    done = library.world.stored(run)
    assert done.status == RunStatus.COMPLETED
    assert [step.type for step in steps_of(library.world, done)] == [
        "tool_calls",
        "tool_calls",
        "message_creation",
    ]
    assert len(engine.prompts) == 3


def test_a_worker_without_an_embedding_model_fails_file_search_runs(library: Library) -> None:
    _, run, _ = searched_run(library, "? " + search_marker("lighthouse"))
    asyncio.run(library.world.consumer(ScriptedEngine()).run_until_idle())  # no file searcher
    failed = library.world.stored(run)
    assert failed.status == RunStatus.FAILED
    assert failed.last_error is not None and failed.last_error["code"] == "server_error"
    assert "embedding model" in failed.last_error["message"]


def test_results_are_cut_to_their_share_of_the_prompt(library: Library) -> None:
    long_text = " ".join(itertools.repeat("lighthouse keeper ships dawn", 400)).encode()
    store, _ = library.store_with(**{"long.txt": long_text})
    library.ingest()
    thread = library.world.thread_with_messages("? " + search_marker("lighthouse"))
    run = library.world.new_run(thread, tools=[FILE_SEARCH_TOOL], assistant_id=library.assistant(store))
    engine = ScriptedEngine()
    config = replace(FAST_CONFIG, context_token_limit=1024, default_max_completion_tokens=100)
    library.consume(engine, config=config)
    (call,) = steps_of(library.world, run)[0].step_details["tool_calls"]
    assert len(call["file_search"]["results"]) > 1  # stored whole
    second_turn = engine.prompts[sorted(engine.prompts)[1]]
    shown = second_turn[-1].content
    # Half the prompt budget (1024 - 100) // 2 for the one search: the best result(s), cut.
    assert (
        shown.startswith("【0:0†long.txt】")
        and engine.count_prompt_tokens([ChatMessage("tool", shown)]) <= 462
    )
    assert len(library.world.assistant_messages(thread)) == 1
    assert json.dumps(call["file_search"]["results"][0]["content"]).count("lighthouse") > 100


def test_a_run_cancelled_while_searching_ends_cancelled_without_a_recorded_search(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = library.world
    thread, run, _ = searched_run(library, "? " + search_marker("lighthouse"))
    search = library.searcher.search

    def cancelled_meanwhile(searched: Run, *args: Any) -> Any:
        world.runs.transition_run(world.stored(searched), RunStatus.CANCELLING)  # the user cancels
        return search(searched, *args)

    monkeypatch.setattr(library.searcher, "search", cancelled_meanwhile)
    engine = ScriptedEngine()
    # The status watch does not look in time: the conditional write of the search step finds it cancelling.
    library.consume(engine, config=replace(FAST_CONFIG, cancel_poll_seconds=30))
    cancelled = world.stored(run)
    assert cancelled.status == RunStatus.CANCELLED and cancelled.cancelled_at is not None
    (step,) = steps_of(world, cancelled)  # the step it had announced ends cancelled too
    assert (step.status, step.completed_at) == (StepStatus.CANCELLED, None) and step.cancelled_at is not None
    assert world.assistant_messages(thread) == [] and len(engine.prompts) == 1
    assert world.threads.get_thread(OWNER, thread.id).active_run_id is None


class CutOffForcedCall(ScriptedEngine):
    """A small model whose forced call runs out of tokens inside its queries (as SmolLM2-135M does)."""

    def reply_words(
        self, messages: Sequence[ChatMessage], constraint: OutputConstraint | None = None
    ) -> list[str]:
        if constraint is not None:
            return ['{"name":', '"file_search",', '"arguments":', '{"queries":', '["1.1.1.1.1.1']
        return super().reply_words(messages, constraint)


def test_a_forced_search_the_model_could_not_write_searches_the_user_message(library: Library) -> None:
    thread, run, file_ids = searched_run(
        library, "lighthouse keeper", tool_choice={"type": "file_search"}, stream_log_seq=0
    )
    library.consume(CutOffForcedCall())
    done = library.world.stored(run)
    assert done.status == RunStatus.COMPLETED
    search, _ = steps_of(library.world, done)
    (call,) = search.step_details["tool_calls"]
    assert call["file_search"]["queries"] == ["lighthouse keeper"]
    assert call["file_search"]["results"][0]["file_id"] == file_ids["lighthouse.txt"]
    log = library.world.events.read(thread.id, run.id, limit=1000)
    created = [e for e in log if e.event == "thread.run.step.created" and e.data["id"] == search.id]
    assert len(created) == 1  # streamed once: a search's arguments are not part of its stream
