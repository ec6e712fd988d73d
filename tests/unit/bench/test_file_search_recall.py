"""The recall bench's scoring and its labelled set: ranks and metrics on hand-made cases, keyword-only
ranking through the production ranker, and a question set whose every answer passage is in its document and
inside a whole chunk at both chunkings the bench measures (no model quality numbers are asserted)."""

from __future__ import annotations

from itertools import combinations

import pytest

from assistants_core.domain.chunks import IndexedFile, pack_vectors
from assistants_core.domain.vector_stores import ChunkingStrategy
from assistants_core.services.hybrid_search import LoadedFile, rank
from bench.file_search_recall import (
    DATA,
    DEFAULT_CHUNKINGS,
    LabelledQuestion,
    Scores,
    ZeroQueryEmbedder,
    check_answerable,
    first_relevant_rank,
    load_questions,
    mean_scores,
    random_order_scores,
    rank_scores,
    score,
)
from gpu_worker.ingestion.chunking import TokenCounter, chunk_text
from gpu_worker.ingestion.embedders import bundled_minilm_path
from gpu_worker.ingestion.parsers import extract_text

QUESTION = LabelledQuestion(
    question="How long is the warranty?",
    document="manual.pdf",
    answer="covers parts for 24 months",
    style="keyword",
)


def test_score_counts_recall_at_1_and_5_and_mean_reciprocal_rank() -> None:
    scores = score([1, 3, None, 6])
    assert scores.recall_at_1 == 0.25
    assert scores.recall_at_5 == 0.5
    assert scores.mrr == pytest.approx((1 + 1 / 3 + 1 / 6) / 4)
    with pytest.raises(ValueError):
        score([])


@pytest.mark.parametrize("relevant, total, depth", [(1, 4, 20), (2, 6, 20), (3, 9, 2), (1, 1, 20)])
def test_random_order_scores_are_the_mean_over_every_placement_of_the_relevant_chunks(
    relevant: int, total: int, depth: int
) -> None:
    def when_first_at(first: int) -> Scores:  # MRR counts the top ``depth`` only
        scores = rank_scores(first)
        return Scores(scores.recall_at_1, scores.recall_at_5, scores.mrr if first <= depth else 0.0)

    expected = mean_scores(
        [when_first_at(min(places) + 1) for places in combinations(range(total), relevant)]
    )
    measured = random_order_scores(relevant, total, depth)
    assert measured.recall_at_1 == pytest.approx(expected.recall_at_1)
    assert measured.recall_at_5 == pytest.approx(expected.recall_at_5)
    assert measured.mrr == pytest.approx(expected.mrr)


def test_first_relevant_hit_needs_the_document_and_the_whole_passage_whitespace_ignored() -> None:
    hits = [
        ("other.md", "The warranty covers parts for 24 months."),  # right text, wrong document
        ("manual.pdf", "The warranty covers parts"),  # right document, passage cut off
        ("manual.pdf", "The warranty\ncovers  parts for\n24 months from installation."),
    ]
    assert first_relevant_rank(hits, QUESTION) == 3
    assert first_relevant_rank(hits[:2], QUESTION) is None


def test_check_answerable_names_questions_without_a_chunk_holding_their_passage() -> None:
    check_answerable([QUESTION], {"manual.pdf": ["x", "It covers parts for 24 months."]})
    with pytest.raises(RuntimeError, match="How long is the warranty"):
        check_answerable([QUESTION], {"manual.pdf": ["It covers parts", "for 24 months."]})


def test_zero_query_vector_leaves_the_bm25_part_of_the_hybrid_ranker() -> None:
    chunks = [
        "descale with citric acid",
        "replace the gasket",
        "descale descale the boiler",
        "unrelated text",
    ]
    indexed = IndexedFile(
        model="m", dimensions=384, text="", chunks=chunks, vectors=pack_vectors([[1.0] + [0.0] * 383] * 4)
    )
    loaded = LoadedFile.of("file-1", indexed)
    ranked = rank([loaded], ZeroQueryEmbedder().embed(["descale"]), ["descale"], hybrid=True, limit=4)
    assert [hit.chunk for hit in ranked[:2]] == [2, 0]
    assert ranked[0].score == pytest.approx(0.3)  # (1 - VECTOR_WEIGHT) * best BM25 / best BM25
    assert all(hit.score == 0.0 for hit in ranked[2:])


def test_labelled_set_is_well_formed() -> None:
    questions = load_questions()
    documents = {path.name for path in DATA.iterdir() if path.name not in {"questions.json", "README.md"}}
    assert {question.document for question in questions} == documents
    assert {question.style for question in questions} == {"keyword", "paraphrase"}
    assert len({question.question for question in questions}) == len(questions)
    counter = TokenCounter(bundled_minilm_path() / "tokenizer.json")
    texts = {name: extract_text(name, (DATA / name).read_bytes()) for name in documents}
    for question in questions:
        flat = " ".join(texts[question.document].split())
        assert flat.count(" ".join(question.answer.split())) == 1, question
        # Shorter than the smallest overlap measured: some chunk always holds it whole.
        assert len(counter.offsets(question.answer)) < min(overlap for _, overlap in DEFAULT_CHUNKINGS)
    for size, overlap in DEFAULT_CHUNKINGS:
        strategy = ChunkingStrategy(max_chunk_size_tokens=size, chunk_overlap_tokens=overlap)
        chunks = {name: [c.text for c in chunk_text(text, strategy, counter)] for name, text in texts.items()}
        check_answerable(questions, chunks)


def test_remembering_embedder_embeds_each_distinct_text_once() -> None:
    from bench.file_search_recall import RememberingEmbedder
    from gpu_worker.ingestion.embedders import HashingEmbedder

    calls: list[list[str]] = []

    class Counting(HashingEmbedder):
        def embed(self, texts: list[str]) -> list[list[float]]:
            calls.append(texts)
            return super().embed(texts)

    remembering = RememberingEmbedder(Counting())
    first = remembering.embed(["a b", "c", "a b"])
    again = remembering.embed(["c", "d"])
    assert calls == [["a b", "c"], ["d"]]
    assert first[0] == first[2] == HashingEmbedder().embed(["a b"])[0]
    assert again[0] == first[1]
