"""The pure parts of file_search in runs: what is offered and forced, the call's queries, the stored results,
what the model reads of them within a budget, and the citations parsed out of a reply."""

from __future__ import annotations

from typing import Any

from assistants_core.domain.models import Run
from assistants_core.domain.status import RunStatus
from assistants_core.domain.vector_stores import VectorStoreFile
from assistants_core.services.vector_store_search import StoreHit
from gpu_worker.file_search import (
    FILE_SEARCH_FUNCTION,
    STORED_CONTENT_LIMIT_CHARS,
    SearchOptions,
    SearchRenderer,
    Source,
    queries_of,
    stored_results,
)
from gpu_worker.file_search_citations import annotations_of, cite_reply
from gpu_worker.outcomes import Generation, generation_outcome
from gpu_worker.tool_calls import HermesToolCallFormat, ParsedCall
from gpu_worker.tool_turns import offered_functions, plan_turn, tool_calls_outcome

LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def run_with(tools: list[dict[str, Any]], **fields: Any) -> Run:
    return Run(
        id="run_1",
        owner="o",
        thread_id="thread_1",
        assistant_id="asst_1",
        created_at=0,
        status=RunStatus.IN_PROGRESS,
        model="m",
        instructions=None,
        expires_at=None,
        tools=tools,
        **fields,
    )


def names(functions: list[dict[str, Any]]) -> list[str]:
    return [function["name"] for function in functions]


def test_file_search_is_offered_beside_functions_and_shadows_a_function_of_its_name() -> None:
    shadowing = {"type": "function", "function": {"name": "file_search"}}
    run = run_with([LOOKUP, shadowing, {"type": "file_search"}])
    assert names(offered_functions(run)) == ["lookup", "file_search"]
    assert offered_functions(run)[-1] is FILE_SEARCH_FUNCTION
    assert offered_functions(run_with([LOOKUP, {"type": "file_search"}], tool_choice="none")) == []
    assert (
        names(offered_functions(run_with([{"type": "code_interpreter"}]))) == []
    )  # never a tool we don't run


def test_tool_choice_file_search_forces_the_first_turn_only() -> None:
    run = run_with([LOOKUP, {"type": "file_search"}], tool_choice={"type": "file_search"})
    first = plan_turn(run, [], HermesToolCallFormat())
    assert first.forced and first.constraint is not None
    schema = first.constraint.json_schema
    assert schema is not None and schema["properties"]["name"]["enum"] == ["file_search"]
    assert schema["properties"]["arguments"]["properties"]["queries"]["minItems"] == 1
    # A forced search the model could not write (cut off) still searches, for the newest user message.
    assert first.parse(
        '{"name": "file_search", "arguments": {"queries": ["1.1.1.1', HermesToolCallFormat()
    ) == [ParsedCall("file_search", "{}")]
    without_the_tool = run_with([LOOKUP], tool_choice={"type": "file_search"})
    assert not plan_turn(without_the_tool, [], HermesToolCallFormat()).forced


def test_a_search_call_never_reaches_required_action() -> None:
    run = run_with([LOOKUP, {"type": "file_search"}])
    calls = [ParsedCall("lookup", "{}"), ParsedCall("file_search", '{"queries": ["q"]}')]
    outcome = tool_calls_outcome(run, 0, calls, Generation("", 1, 1, "stop"), 0.0)
    required = outcome.fields["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert [call["type"] for call in required] == ["function"]
    search = outcome.steps[0].step_details["tool_calls"][1]
    assert search == {
        "id": search["id"],
        "type": "file_search",
        "file_search": {"arguments": '{"queries": ["q"]}'},
    }


def test_queries_of_a_call() -> None:
    assert queries_of('{"queries": [" a ", "", "b"]}', "fallback") == ["a", "b"]
    assert queries_of('{"query": "single"}', "fallback") == ["single"]
    assert queries_of('{"queries": []}', "the user asked") == ["the user asked"]
    assert queries_of("not json", " ") == []


def test_search_options_default_to_openais() -> None:
    assert SearchOptions.of(run_with([{"type": "file_search"}])) == SearchOptions(20, 0.0)
    tuned = {
        "type": "file_search",
        "file_search": {"max_num_results": 3, "ranking_options": {"score_threshold": 0.5}},
    }
    options = SearchOptions.of(run_with([tuned]))
    assert options == SearchOptions(3, 0.5)
    assert options.ranking_options() == {"ranker": "default_2024_08_21", "score_threshold": 0.5}


def hit(file_id: str, text: str, score: float = 0.5) -> StoreHit:
    return StoreHit(
        VectorStoreFile(id=file_id, owner="o", vector_store_id="vs", created_at=0, filename=f"{file_id}.txt"),
        text,
        score,
    )


def test_stored_results_keep_content_within_the_item_limit() -> None:
    big = "x" * (STORED_CONTENT_LIMIT_CHARS - 10)
    results = stored_results([hit("a", big, 0.9), hit("b", "y" * 100, 0.8), hit("c", "z", 0.7)])
    assert [r["file_name"] for r in results] == ["a.txt", "b.txt", "c.txt"]
    assert [len(r["content"][0]["text"]) for r in results] == [len(big), 10, 0]
    assert results[0]["score"] == 0.9


def details(*texts: str) -> dict[str, Any]:
    return {"results": stored_results([hit(f"f{i}", text, 1.0 - i / 10) for i, text in enumerate(texts)])}


def test_the_renderer_keeps_the_best_results_that_fit_and_cuts_a_first_one_too_long() -> None:
    fits_60 = SearchRenderer(fits=lambda text: len(text) <= 60)
    output = fits_60(2, details("a" * 20, "b" * 20, "c" * 20))
    assert output == "【2:0†f0.txt】 " + "a" * 20  # the second would not fit
    assert [(s.turn, s.index, s.file_id) for s in fits_60.shown] == [(2, 0, "f0")]
    assert set(fits_60.sources) == {(2, 0), (2, 1), (2, 2)}  # every result may be cited

    cut = SearchRenderer(fits=lambda text: len(text) <= 30)
    assert cut(0, details("a" * 100)) == ("【0:0†f0.txt】 " + "a" * 100)[:30]
    assert SearchRenderer()(0, {"results": []}) == "No results found in the attached files."


def test_markers_become_annotations_only_when_they_name_a_result() -> None:
    sources = {(0, 1): Source(0, 1, "file-a", "a.txt", 0.5)}
    text = "Fact 【0:1†a.txt】 and 【0:7†ghost.txt】."
    (annotation,) = annotations_of(text, sources)
    assert annotation == {
        "type": "file_citation",
        "text": "【0:1†a.txt】",
        "start_index": 5,
        "end_index": 16,
        "file_citation": {"file_id": "file-a"},
    }
    assert text[5:16] == "【0:1†a.txt】"


def test_no_fallback_citations_for_a_reply_cut_short() -> None:
    run = run_with([{"type": "file_search"}])
    truncated = generation_outcome(run, Generation("partial", 1, 1, "length"), 1.0, started_at=1.0, turn=1)
    shown = [Source(0, 0, "file-a", "a.txt", 0.5)]
    cited = cite_reply(truncated, {(0, 0): shown[0]}, shown, fallback=True)
    assert cited.appended == "" and cited.outcome.message is not None
    assert cited.outcome.message.text() == "partial"
    complete = generation_outcome(run, Generation("done", 1, 1, "stop"), 1.0, started_at=1.0, turn=1)
    cited = cite_reply(complete, {(0, 0): shown[0]}, shown, fallback=True)
    assert cited.appended == "\n\n【0:0†a.txt】"
    assert cited.outcome.message is not None
    (annotation,) = cited.outcome.message.content[0]["text"]["annotations"]
    assert annotation["file_citation"] == {"file_id": "file-a"} and annotation["start_index"] == len(
        "done\n\n"
    )
