"""The ``file_search`` tool of a run, as the model sees it and as the worker runs it.

- Offered (``tool_turns.offered_functions``) to runs whose ``tools`` hold ``{"type": "file_search"}`` as one
  more function, ``file_search({"queries": [...]})``, through the same tool-call machinery as the client's
  functions; ``tool_choice={"type": "file_search"}`` forces the first turn to call it.
- Which stores (FILE_SEARCH_CONTRACT item 1): the assistant's ``tool_resources.file_search.vector_store_ids``
  then the thread's, deduplicated, read when the run is claimed; before the first turn the worker waits
  (polling with backoff, at most ``file_search_ingestion_wait_seconds``) while one of them still ingests.
- A call is searched with the core's hybrid ranking (``VectorStoreSearchService.search_stores``), with the
  tool's ``max_num_results`` (OpenAI's default 20) and ``ranking_options.score_threshold`` (default 0), and
  stored as the contract's ``file_search`` call (results with content, private ``queries``).
- The model reads the results as the call's output: each result behind its marker ``【turn:index†file】``
  (``turn``: the run's tool turn, ``index``: the result's rank), cut to a share of the prompt budget
  (``SearchRenderer``), and is asked to cite with those markers (``file_search_citations``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistants_core.domain.errors import NotFoundError
from assistants_core.domain.models import JSONDict, PageRequest, Run, RunStep
from assistants_core.domain.status import StepStatus
from assistants_core.domain.vector_stores import FileStatus
from assistants_core.file_ports import VectorStoreRepository
from assistants_core.ports import AssistantRepository, ThreadRepository
from assistants_core.services.vector_store_search import StoreHit, VectorStoreSearchService
from gpu_worker.engines.base import ChatMessage

FILE_SEARCH = "file_search"
DEFAULT_MAX_NUM_RESULTS = 20  # OpenAI's default for gpt-4* models
DEFAULT_RANKER = "default_2024_08_21"
# The results' chunk texts are stored on the step item (DynamoDB caps an item at 400 KB).
STORED_CONTENT_LIMIT_CHARS = 200_000
NO_RESULTS = "No results found in the attached files."
MAX_QUERIES = 2
MAX_QUERY_CHARS = 100

FILE_SEARCH_FUNCTION: JSONDict = {
    "name": FILE_SEARCH,
    "description": (
        "Search the files the user attached to this assistant or conversation for passages relevant to the "
        "queries. Each result comes back behind a marker like 【0:1†notes.txt】; when your answer uses a "
        "result, cite it by copying its marker right after the sentence that uses it."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            # Bounded: a constrained (forced) call of a small model otherwise writes strings until the token
            # budget ends (measured: SmolLM2-135M writes "1.1.1..." for 256 tokens), and a cut-off call is
            # no call. At most ~2 x 100 tokens here, inside the API's minimum max_completion_tokens (256).
            "queries": {
                "type": "array",
                "items": {"type": "string", "maxLength": MAX_QUERY_CHARS},
                "minItems": 1,
                "maxItems": MAX_QUERIES,
                "description": "One or two short search queries (keywords or a question).",
            }
        },
        "required": ["queries"],
    },
}


def file_search_tool(run: Run) -> JSONDict | None:
    return next((tool for tool in run.tools if tool.get("type") == FILE_SEARCH), None)


def offers_file_search(run: Run) -> bool:
    return file_search_tool(run) is not None and run.tool_choice != "none"


@dataclass(frozen=True, slots=True)
class SearchOptions:
    max_num_results: int = DEFAULT_MAX_NUM_RESULTS
    score_threshold: float = 0.0

    @classmethod
    def of(cls, run: Run) -> SearchOptions:
        settings = (file_search_tool(run) or {}).get(FILE_SEARCH) or {}
        ranking = settings.get("ranking_options") or {}
        return cls(
            max_num_results=int(settings.get("max_num_results") or DEFAULT_MAX_NUM_RESULTS),
            score_threshold=float(ranking.get("score_threshold") or 0.0),
        )

    def ranking_options(self) -> JSONDict:
        return {"ranker": DEFAULT_RANKER, "score_threshold": self.score_threshold}


def queries_of(arguments: str, fallback: str) -> list[str]:
    """The call's non-empty ``queries`` (a bare ``query`` string is taken too); ``fallback`` (the newest user
    message) when the model gave none."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        value = {}
    raw = value.get("queries", value.get("query")) if isinstance(value, dict) else None
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    queries = [item.strip() for item in items if isinstance(item, str) and item.strip()]
    return queries or ([fallback.strip()] if fallback.strip() else [])


def stored_results(hits: Sequence[StoreHit]) -> list[JSONDict]:
    """The contract's ``results`` (content included), the chunk texts cut to ``STORED_CONTENT_LIMIT_CHARS``
    in all (later, lower-ranked results give way first)."""
    left = STORED_CONTENT_LIMIT_CHARS
    results = []
    for hit in hits:
        text = hit.text[: max(0, left)]
        left -= len(text)
        results.append(
            {
                "file_id": hit.file.id,
                "file_name": hit.file.filename,
                "score": round(hit.score, 6),
                "content": [{"type": "text", "text": text}],
            }
        )
    return results


def file_search_call(
    call_id: str, queries: list[str], options: SearchOptions, hits: Sequence[StoreHit]
) -> JSONDict:
    """A file_search call as stored in a ``tool_calls`` step (FILE_SEARCH_CONTRACT item 3)."""
    return {
        "id": call_id,
        "type": FILE_SEARCH,
        FILE_SEARCH: {
            "ranking_options": options.ranking_options(),
            "results": stored_results(hits),
            "queries": queries,
        },
    }


def is_search_call(call: JSONDict) -> bool:
    return call.get("type") == FILE_SEARCH


def search_calls_of(steps: Sequence[RunStep]) -> int:
    """How many file_search calls the run's answered tool turns made."""
    return sum(
        1
        for step in steps
        if step.status == StepStatus.COMPLETED
        for call in step.step_details.get("tool_calls", [])
        if is_search_call(call)
    )


# -- what the model reads ------------------------------------------------------------------------------------
def result_marker(turn: int, index: int, file_name: str) -> str:
    return f"【{turn}:{index}†{file_name}】"


def _result_text(result: JSONDict) -> str:
    return "".join(part.get("text", "") for part in result.get("content", []) if isinstance(part, dict))


@dataclass(frozen=True, slots=True)
class Source:
    """A result the model may cite: its marker's turn and index, its file."""

    turn: int
    index: int
    file_id: str
    file_name: str
    score: float = 0.0

    @property
    def marker(self) -> str:
        return result_marker(self.turn, self.index, self.file_name)


def output_fits(
    count_prompt_tokens: Callable[[Sequence[ChatMessage]], int], tokens: int
) -> Callable[[str], bool]:
    """Whether a search's rendered results, as a ``tool`` message, take at most ``tokens``."""

    def fits(text: str) -> bool:
        return count_prompt_tokens([ChatMessage("tool", text)]) <= tokens

    return fits


@dataclass(slots=True)
class SearchRenderer:
    """Renders each file_search call's results as its output for the prompt, within ``budget_tokens``
    (counted with ``fits``), and remembers every result (``sources``: what a marker may cite) and the ones
    the model was shown (``shown``)."""

    fits: Callable[[str], bool] = lambda text: True
    sources: dict[tuple[int, int], Source] = field(default_factory=dict)
    shown: list[Source] = field(default_factory=list)

    def __call__(self, turn: int, details: JSONDict) -> str:
        results = list(details.get("results") or [])
        for index, result in enumerate(results):
            self.sources[(turn, index)] = Source(
                turn, index, result["file_id"], result.get("file_name", ""), float(result.get("score", 0.0))
            )
        if not results:
            return NO_RESULTS
        lines = [
            f"{result_marker(turn, index, result.get('file_name', ''))} {_result_text(result)}"
            for index, result in enumerate(results)
        ]
        kept = self._kept_lines(lines)
        self.shown += [self.sources[(turn, index)] for index in range(len(kept))]
        return "\n\n".join(kept)

    def _kept_lines(self, lines: list[str]) -> list[str]:
        """The most results whose text fits (binary search); when not even the first fits, its text cut."""
        if self.fits("\n\n".join(lines)):
            return lines
        fitting, too_many = 0, len(lines)
        while too_many - fitting > 1:
            middle = (fitting + too_many) // 2
            if self.fits("\n\n".join(lines[:middle])):
                fitting = middle
            else:
                too_many = middle
        if fitting:
            return lines[:fitting]
        first, short, long = lines[0], 0, len(lines[0])
        while long - short > 1:
            middle = (short + long) // 2
            if self.fits(first[:middle]):
                short = middle
            else:
                long = middle
        return [first[:short]] if short else []


# -- running a search ----------------------------------------------------------------------------------------
class FileSearcher:
    """Reads a run's stores and searches them (blocking calls: the consumer runs them on its pool)."""

    def __init__(
        self,
        assistants: AssistantRepository,
        threads: ThreadRepository,
        stores: VectorStoreRepository,
        search: VectorStoreSearchService,
    ) -> None:
        self._assistants = assistants
        self._threads = threads
        self._stores = stores
        self._search = search

    def store_ids(self, run: Run) -> list[str]:
        """The assistant's stores, then the thread's, deduplicated (a deleted assistant has none)."""
        resources: list[JSONDict | None] = []
        with contextlib.suppress(NotFoundError):
            resources.append(self._assistants.get_assistant(run.owner, run.assistant_id).tool_resources)
        resources.append(self._threads.get_thread(run.owner, run.thread_id).tool_resources)
        ids: list[str] = []
        for resource in resources:
            for store_id in ((resource or {}).get(FILE_SEARCH) or {}).get("vector_store_ids") or []:
                if store_id not in ids:
                    ids.append(str(store_id))
        return ids

    def ingesting(self, store_ids: Sequence[str]) -> bool:
        """Whether one of the stores still has a file ``in_progress``."""
        return any(
            self._stores.list_files(store_id, PageRequest(limit=1), status=FileStatus.IN_PROGRESS).data
            for store_id in store_ids
        )

    def search(
        self, run: Run, store_ids: list[str], queries: list[str], options: SearchOptions
    ) -> list[StoreHit]:
        return self._search.search_stores(
            run.owner,
            store_ids,
            queries,
            limit=options.max_num_results,
            threshold=options.score_threshold,
        )
