"""Retrieval quality of vector-store search: recall@1, recall@5 and MRR on a labelled question set.

``python -m bench.file_search_recall [--vllm] [--chunkings 800/400 300/100]``

The set (``bench/data/file_search/``): seven documents of different kinds (md, txt, html, docx, pdf) and
``questions.json``, where each question names its document and a passage of that document that answers it.
A search result counts as relevant when it comes from that document and its text holds the whole passage
(whitespace ignored), so labels do not depend on chunk indexes and stay valid at any chunk size whose overlap
is longer than the passages (the bench stops if a question has no chunk holding its passage).

Everything runs the production path against moto in this process: the files are uploaded with
``FileService``, added to a vector store per chunking strategy, and ingested by ``IngestionConsumer`` (the
worker's parser, tokenizer-based static chunker and index object in S3); questions go through
``VectorStoreSearchService`` with the API's query embedder (all-MiniLM-L6-v2 in numpy):
- hybrid: the default ranker (``0.7 * cosine + 0.3 * BM25 / best BM25``);
- vector only: ``ranking_options.ranker = "none"``;
- keyword only: the same hybrid ranker with a query embedder that returns the zero vector, so the cosine
  part is 0 for every chunk and the order is the production BM25 part alone.

Chunks are embedded as the worker's ``VllmEmbedder`` does (the mean of 248-token windows): with ``--vllm``
(what ``make bench`` runs) by that very class on vLLM's CPU pooling runner, as the ingestion worker runs;
without it by the numpy forward pass of the same weights (no vLLM needed; same scores, slower on CPU)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path

from assistants_core.adapters.minilm_numpy import NumpyMiniLm
from assistants_core.domain.vector_stores import (
    DEFAULT_CHUNK_OVERLAP_TOKENS,
    DEFAULT_MAX_CHUNK_SIZE_TOKENS,
    FileStatus,
)
from assistants_core.file_ports import Embedder
from assistants_core.schemas.vector_stores import (
    CreateVectorStoreRequest,
    RankingOptions,
    VectorStoreSearchRequest,
)
from assistants_core.services.clock import SystemClock
from assistants_core.services.vector_store_search import VectorStoreSearchService
from bench.report import format_table
from bench.vector_search import OWNER, Bench, aws_in_process, ingestion_consumer, make_bench
from gpu_worker.ingestion.chunking import TokenCounter
from gpu_worker.ingestion.embedders import MINILM_WINDOW_TOKENS, bundled_minilm_path, embed_in_windows

DATA = Path(__file__).parent / "data" / "file_search"
# The production default (800/400) and a finer one, to show what chunking does to retrieval.
DEFAULT_CHUNKINGS = [(DEFAULT_MAX_CHUNK_SIZE_TOKENS, DEFAULT_CHUNK_OVERLAP_TOKENS), (300, 100)]
DEPTH = 20  # results asked for per question; MRR counts a first relevant hit below this as 0
CONTENT_TYPES = {
    "md": "text/markdown",
    "txt": "text/plain",
    "html": "text/html",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    question: str
    document: str
    answer: str
    style: str  # keyword | paraphrase


@dataclass(frozen=True, slots=True)
class Scores:
    recall_at_1: float
    recall_at_5: float
    mrr: float


def normalize_space(text: str) -> str:
    return " ".join(text.split())


def load_questions(folder: Path = DATA) -> list[LabelledQuestion]:
    return [LabelledQuestion(**item) for item in json.loads((folder / "questions.json").read_text())]


def is_relevant(filename: str, text: str, question: LabelledQuestion) -> bool:
    return filename == question.document and normalize_space(question.answer) in normalize_space(text)


def first_relevant_rank(hits: Sequence[tuple[str, str]], question: LabelledQuestion) -> int | None:
    """1-based rank of the first (filename, chunk text) hit that holds the question's answer, or None."""
    for rank, (filename, text) in enumerate(hits, 1):
        if is_relevant(filename, text, question):
            return rank
    return None


def rank_scores(rank: int | None) -> Scores:
    """One question's recall@1, recall@5 (0 or 1) and reciprocal rank (0 when not found)."""
    if rank is None:
        return Scores(0.0, 0.0, 0.0)
    return Scores(float(rank <= 1), float(rank <= 5), 1.0 / rank)


def random_order_scores(relevant: int, total: int, depth: int = DEPTH) -> Scores:
    """The expected scores of one question when its ``total`` chunks come in random order and ``relevant``
    of them hold the answer: the floor a ranker has to beat (a small store makes recall@5 easy)."""

    def first_at(position: int) -> float:  # probability that the first relevant chunk is at ``position``
        return comb(total - position, relevant - 1) / comb(total, relevant)

    return Scores(
        recall_at_1=first_at(1),
        recall_at_5=1.0 - comb(total - relevant, 5) / comb(total, 5) if total >= 5 else 1.0,
        mrr=sum(first_at(position) / position for position in range(1, min(depth, total) + 1)),
    )


def mean_scores(scores: Sequence[Scores]) -> Scores:
    if not scores:
        raise ValueError("no questions to score")
    return Scores(
        recall_at_1=sum(item.recall_at_1 for item in scores) / len(scores),
        recall_at_5=sum(item.recall_at_5 for item in scores) / len(scores),
        mrr=sum(item.mrr for item in scores) / len(scores),
    )


def score(ranks: Sequence[int | None]) -> Scores:
    """recall@1, recall@5 (share of questions with a relevant hit in the top 1 / 5) and MRR."""
    return mean_scores([rank_scores(rank) for rank in ranks])


class WindowedNumpyMiniLm:
    """The ingestion worker's embedding of a chunk (mean of its 248-token windows, as ``VllmEmbedder``)
    with the numpy forward pass of the same all-MiniLM-L6-v2 weights instead of vLLM."""

    def __init__(self, model: NumpyMiniLm, counter: TokenCounter) -> None:
        self._model = model
        self._counter = counter

    @property
    def name(self) -> str:
        return self._model.name

    @property
    def dimensions(self) -> int:
        return self._model.dimensions

    def embed(self, texts: list[str]) -> list[list[float]]:
        return embed_in_windows(texts, self._counter, MINILM_WINDOW_TOKENS, self._model.embed)


class RememberingEmbedder:
    """Embeds each distinct text once (every question is asked per ranking and per chunking)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._vectors: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        return self._embedder.name

    @property
    def dimensions(self) -> int:
        return self._embedder.dimensions

    def embed(self, texts: list[str]) -> list[list[float]]:
        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        self._vectors.update(zip(missing, self._embedder.embed(missing) if missing else [], strict=True))
        return [self._vectors[text] for text in texts]


class ZeroQueryEmbedder:
    """Keyword-only ranking through the production hybrid ranker: every chunk's cosine part becomes 0."""

    name = "zero"
    dimensions = 384

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[0.0] * self.dimensions for _ in texts]


def ingest_store(
    bench: Bench, file_ids: list[str], size: int, overlap: int, embedder: Embedder
) -> tuple[str, dict[str, list[str]]]:
    """A vector store of ``file_ids`` chunked at ``size``/``overlap`` tokens, ingested by the worker's
    consumer; returns its id and each document's chunks as the index holds them."""
    chunking = {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}
    store = bench.stores.create(
        OWNER,
        CreateVectorStoreRequest.model_validate(
            {"name": f"recall-{size}-{overlap}", "file_ids": file_ids, "chunking_strategy": chunking}
        ),
    )
    consumer = ingestion_consumer(bench, embedder)
    while consumer.run_once():
        pass
    chunks: dict[str, list[str]] = {}
    for file_id in file_ids:
        file = bench.repository.find_file(store.id, file_id)
        if file is None or file.status != FileStatus.COMPLETED:
            raise RuntimeError(f"{file_id} was not ingested: {file}")
        indexed = bench.index.read_file_chunks(store.id, file_id)
        assert indexed is not None
        chunks[file.filename] = indexed.chunks
    return store.id, chunks


def check_answerable(questions: Sequence[LabelledQuestion], chunks: dict[str, list[str]]) -> None:
    """Every question has at least one chunk that holds its whole passage (else the labels cannot score)."""
    missing = [
        question.question
        for question in questions
        if not any(is_relevant(question.document, text, question) for text in chunks[question.document])
    ]
    if missing:
        raise RuntimeError(f"no chunk holds the answer passage of: {missing} (overlap too small?)")


def ranks_of(
    search: VectorStoreSearchService,
    store_id: str,
    questions: Sequence[LabelledQuestion],
    ranker: RankingOptions,
) -> list[int | None]:
    ranks = []
    for question in questions:
        results = search.search(
            OWNER,
            store_id,
            VectorStoreSearchRequest(query=question.question, max_num_results=DEPTH, ranking_options=ranker),
        )
        hits = [(item.filename, item.content[0].text) for item in results.data]
        ranks.append(first_relevant_rank(hits, question))
    return ranks


def table_row(
    chunking: str, chunks: int, mode: str, questions: Sequence[LabelledQuestion], per_question: list[Scores]
) -> list[object]:
    overall = mean_scores(per_question)
    by_style = {
        style: mean_scores(
            [item for item, q in zip(per_question, questions, strict=True) if q.style == style]
        )
        for style in ("keyword", "paraphrase")
    }
    return [
        chunking,
        chunks,
        mode,
        overall.recall_at_1,
        overall.recall_at_5,
        overall.mrr,
        by_style["keyword"].recall_at_5,
        by_style["paraphrase"].recall_at_5,
    ]


def measure(
    bench: Bench, chunk_embedder: Embedder, chunkings: list[tuple[int, int]]
) -> tuple[list[list[object]], list[str]]:
    """The table's rows, and one line per question whose answer is not in the top 5."""
    questions = load_questions()
    documents = sorted({question.document for question in questions})
    file_ids = [
        bench.file_service.create(
            OWNER,
            filename=name,
            purpose="assistants",
            data=(DATA / name).read_bytes(),
            content_type=CONTENT_TYPES[name.rsplit(".", 1)[1]],
        ).id
        for name in documents
    ]
    query_embedder = RememberingEmbedder(NumpyMiniLm(bundled_minilm_path()))
    clock = SystemClock()
    semantic = VectorStoreSearchService(bench.repository, bench.index, query_embedder, clock)
    keyword = VectorStoreSearchService(bench.repository, bench.index, ZeroQueryEmbedder(), clock)
    modes = [
        ("hybrid", semantic, RankingOptions(ranker="auto")),
        ("vector only", semantic, RankingOptions(ranker="none")),
        ("keyword only (BM25)", keyword, RankingOptions(ranker="auto")),
    ]
    rows: list[list[object]] = []
    misses: list[str] = []
    for size, overlap in chunkings:
        store_id, chunks = ingest_store(bench, file_ids, size, overlap, chunk_embedder)
        check_answerable(questions, chunks)
        total = sum(len(texts) for texts in chunks.values())

        label = f"{size}/{overlap}"
        for mode, search, ranker in modes:
            ranks = ranks_of(search, store_id, questions, ranker)
            rows.append(table_row(label, total, mode, questions, [rank_scores(rank) for rank in ranks]))
            misses += [
                f"{label} {mode}: rank {rank or f'>{DEPTH}'} for {q.question!r} ({q.document})"
                for rank, q in zip(ranks, questions, strict=True)
                if rank is None or rank > 5
            ]
        relevant = [sum(is_relevant(q.document, text, q) for text in chunks[q.document]) for q in questions]
        expected = [random_order_scores(count, total) for count in relevant]
        rows.append(table_row(label, total, "random order (expected)", questions, expected))
    return rows, misses


def parse_chunking(value: str) -> tuple[int, int]:
    size, overlap = value.split("/")
    return int(size), int(overlap)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vllm", action="store_true", help="embed chunks with vLLM, as the worker does")
    parser.add_argument("--show-misses", action="store_true", help="list questions answered below the top 5")
    parser.add_argument("--chunkings", type=parse_chunking, nargs="+", default=DEFAULT_CHUNKINGS)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with aws_in_process():
        bench = make_bench("recall")
        chunk_embedder: Embedder
        if arguments.vllm:
            from gpu_worker.cpu_defaults import apply_cpu_defaults
            from gpu_worker.ingestion.embedders import VllmEmbedder

            apply_cpu_defaults()
            chunk_embedder = VllmEmbedder.load(bundled_minilm_path())
            how = "all-MiniLM-L6-v2 on vLLM's CPU pooling runner, mean of 248-token windows (as the worker)"
        else:
            chunk_embedder = WindowedNumpyMiniLm(NumpyMiniLm(bundled_minilm_path()), bench.counter)
            how = (
                "all-MiniLM-L6-v2 in numpy, mean of 248-token windows (the worker runs the same weights on "
                "vLLM: cosine > 0.999, tests/worker/test_vllm_embedder.py; --vllm to use it)"
            )
        rows, misses = measure(bench, chunk_embedder, arguments.chunkings)
    questions = load_questions()
    keyword = sum(question.style == "keyword" for question in questions)
    print(
        f"File search retrieval quality: {len(questions)} labelled questions ({keyword} keyword-style, "
        f"{len(questions) - keyword} paraphrased) over {len({q.document for q in questions})} documents "
        "(md, txt, html, docx, pdf)."
    )
    print(f"Chunks embedded with {how}; queries with the API's numpy all-MiniLM-L6-v2.")
    print(f"MRR over the top {DEPTH}; keyword only = the production hybrid ranker with a zero query vector.")
    print(
        format_table(
            [
                "chunking",
                "chunks",
                "ranking",
                "recall@1",
                "recall@5",
                f"MRR@{DEPTH}",
                "recall@5 keyword qs",
                "recall@5 paraphrased qs",
            ],
            rows,
        )
    )
    if arguments.show_misses:
        print("\n".join(["Answers below the top 5:", *misses]))


if __name__ == "__main__":
    main()
