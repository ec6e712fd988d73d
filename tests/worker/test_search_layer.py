"""The API Lambda's SearchRuntimeLayer (infra/search_layer): built by its Makefile exactly as `sam build`
runs it (here for this machine's x86_64 instead of Lambda's arm64; same pins, same files), it holds only
what the query embedder needs, imports with nothing else on the path, and embeds as the API does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistants_core.adapters.minilm_numpy import NumpyMiniLm
from gpu_worker.ingestion.embedders import bundled_minilm_path

REPO_ROOT = Path(__file__).resolve().parents[2]
SENTENCES = [
    "How do I reset my password?",
    "To reset your password, open Settings and choose Reset.",
    "The cat sat on the mat.",
]
# Function + layers must stay within Lambda's 262,144,000 unzipped bytes. The functions' own package for
# arm64 (functions/ + requirements.txt) measured 76.9 MB; the layer must leave room for it and the web
# adapter layer of StreamFunction.
LAYER_BUDGET_BYTES = 175_000_000

_EMBED_IN_LAYER = """
import json, sys
from assistants_core.adapters.minilm_numpy import NumpyMiniLm
import numpy
vectors = NumpyMiniLm(sys.argv[1]).embed(json.loads(sys.argv[2]))
print(json.dumps({"numpy": numpy.__version__, "numpy_file": numpy.__file__, "vectors": vectors,
                  "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("builds the layer's x86_64 variant")
    artifacts = tmp_path_factory.mktemp("search-layer")
    subprocess.run(
        [
            "make", "-s", "-f", str(REPO_ROOT / "infra" / "search_layer" / "Makefile"),
            "build-SearchRuntimeLayer", f"ARTIFACTS_DIR={artifacts}", "PLATFORM=manylinux2014_x86_64",
            f"PYTHON={sys.executable}",
        ],
        check=True, cwd=artifacts, timeout=600,
    )  # fmt: skip
    return artifacts


def test_layer_holds_the_runtime_and_the_model_within_the_size_budget(layer: Path) -> None:
    assert sorted(path.name for path in layer.iterdir()) == ["minilm", "python"]
    assert sorted(path.name for path in (layer / "minilm").iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    packages = {path.name for path in (layer / "python").iterdir() if not path.name.endswith(".dist-info")}
    assert packages - {"bin"} == {"numpy", "numpy.libs", "safetensors", "tokenizers"}
    model = bundled_minilm_path()
    assert (layer / "minilm" / "model.safetensors").read_bytes() == (model / "model.safetensors").read_bytes()
    size = _size(layer)
    print(f"search layer (x86_64): {size} bytes unzipped")
    assert size < LAYER_BUDGET_BYTES


def test_layer_contents_import_alone_and_embed_as_the_api_does(layer: Path) -> None:
    """A fresh interpreter without site-packages (-S): only the layer's python/ and the functions' code."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(layer / "python"), str(REPO_ROOT / "functions")]),
    }
    completed = subprocess.run(
        [sys.executable, "-S", "-c", _EMBED_IN_LAYER, str(layer / "minilm"), json.dumps(SENTENCES)],
        env=environment, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(completed.stdout)
    assert result["numpy"] == "2.2.6" and result["numpy_file"].startswith(str(layer / "python"))
    assert "huggingface_hub" not in result["modules"] and "pydantic" not in result["modules"]
    in_layer = np.asarray(result["vectors"])
    in_venv = np.asarray(NumpyMiniLm(bundled_minilm_path()).embed(SENTENCES))
    assert in_layer.shape == (3, 384)
    assert np.allclose(np.linalg.norm(in_layer, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(in_layer * in_venv, axis=1))) > 0.9999
    question, answer, unrelated = in_layer
    assert question @ answer > question @ unrelated + 0.3


def test_the_query_embedder_computes_in_float32() -> None:
    """float32 weights all the way through (a np.float64 scale once promoted the pass to float64)."""
    pooled = NumpyMiniLm(bundled_minilm_path())._encode_one([101, 7592, 2088, 102])
    assert pooled.dtype == np.float32
