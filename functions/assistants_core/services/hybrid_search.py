"""Hybrid (vector + keyword) scoring over a store's indexed files, brute force with numpy.

Each file's index object is loaded once per process into a ``LoadedFile`` (its vectors as one float32
matrix, an inverted index of its chunks' words) and kept in a bounded cache keyed by what identifies that
ingestion, so a warm API process answers from memory. Scores are in [0, 1]: cosine similarity (clipped at
0), or with the hybrid ranker ``0.7 * cosine + 0.3 * BM25 / best BM25`` (OpenAI does not publish its mix)."""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistants_core.domain.chunks import IndexedFile

VECTOR_WEIGHT = 0.7
BM25_K1 = 1.2
BM25_B = 0.75
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True, slots=True)
class LoadedFile:
    file_id: str
    chunks: list[str]
    matrix: Any  # (chunks, dimensions) float32
    postings: dict[str, list[tuple[int, int]]]  # word -> [(chunk index, term frequency)]
    lengths: Any  # words per chunk

    @classmethod
    def of(cls, file_id: str, indexed: IndexedFile) -> LoadedFile:
        matrix = np.frombuffer(indexed.vectors, dtype="<f4").reshape(len(indexed.chunks), indexed.dimensions)
        postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for index, chunk in enumerate(indexed.chunks):
            counts = Counter(words(chunk))
            lengths.append(sum(counts.values()))
            for word, count in counts.items():
                postings.setdefault(word, []).append((index, count))
        return cls(file_id, indexed.chunks, matrix, postings, np.asarray(lengths, dtype=np.float32))


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    file_id: str
    chunk: int
    score: float


class LoadedFileCache:
    """Least-recently-used ``LoadedFile``s, at most ``max_chunks`` chunks in all."""

    def __init__(self, max_chunks: int = 500_000) -> None:
        self._max_chunks = max_chunks
        self._files: OrderedDict[tuple[Any, ...], LoadedFile] = OrderedDict()
        self._chunks = 0

    def get(self, key: tuple[Any, ...]) -> LoadedFile | None:
        loaded = self._files.get(key)
        if loaded is not None:
            self._files.move_to_end(key)
        return loaded

    def put(self, key: tuple[Any, ...], loaded: LoadedFile) -> None:
        self._files[key] = loaded
        self._chunks += len(loaded.chunks)
        while self._chunks > self._max_chunks and len(self._files) > 1:
            _, evicted = self._files.popitem(last=False)
            self._chunks -= len(evicted.chunks)


def _bm25(files: Sequence[LoadedFile], query_words: list[str]) -> list[Any]:
    total_chunks = sum(len(file.chunks) for file in files)
    if not total_chunks or not query_words:
        return [np.zeros(len(file.chunks), dtype=np.float32) for file in files]
    average_length = float(sum(float(file.lengths.sum()) for file in files)) / total_chunks or 1.0
    scores = [np.zeros(len(file.chunks), dtype=np.float32) for file in files]
    for word in set(query_words):
        frequency = sum(len(file.postings.get(word, ())) for file in files)
        if not frequency:
            continue
        idf = math.log(1 + (total_chunks - frequency + 0.5) / (frequency + 0.5))
        for file, file_scores in zip(files, scores, strict=True):
            for chunk, count in file.postings.get(word, ()):
                norm = BM25_K1 * (1 - BM25_B + BM25_B * float(file.lengths[chunk]) / average_length)
                file_scores[chunk] += idf * count * (BM25_K1 + 1) / (count + norm)
    return scores


def rank(
    files: Sequence[LoadedFile],
    query_vectors: list[list[float]],
    query_texts: list[str],
    *,
    hybrid: bool,
    limit: int,
    threshold: float = 0.0,
) -> list[ScoredChunk]:
    if not files:
        return []
    queries = np.asarray(query_vectors, dtype=np.float32)
    keyword = _bm25(files, [word for text in query_texts for word in words(text)]) if hybrid else []
    best_keyword = max((float(scores.max()) for scores in keyword if len(scores)), default=0.0)
    results: list[ScoredChunk] = []
    for position, file in enumerate(files):
        if not len(file.chunks):
            continue
        similarity = np.clip((file.matrix @ queries.T).max(axis=1), 0.0, 1.0)
        if hybrid:
            keyword_part = keyword[position] / best_keyword if best_keyword > 0 else 0.0
            similarity = VECTOR_WEIGHT * similarity + (1 - VECTOR_WEIGHT) * keyword_part
        keep = min(limit, len(similarity))
        top = np.argpartition(-similarity, keep - 1)[:keep]
        results += [
            ScoredChunk(file.file_id, int(i), float(similarity[i])) for i in top if similarity[i] >= threshold
        ]
    results.sort(key=lambda item: -item.score)
    return results[:limit]
