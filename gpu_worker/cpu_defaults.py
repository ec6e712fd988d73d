"""Environment defaults for running vLLM's CPU build locally (measured on the dev machine; see DESIGN.md).

vLLM reads its own ``VLLM_*`` variables, and ``WorkerSettings`` reads the ``ASSISTANTS_ENGINE_*`` ones, so the
defaults are applied to the process environment — only where a variable is not already set, so any of them
can be overridden from the shell. The GPU (Modal) image does not apply them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

CPU_ENVIRONMENT_DEFAULTS: Mapping[str, str] = {
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # engine core in-process: loads in ~4 s instead of ~21 s
    "VLLM_NO_USAGE_STATS": "1",
    "HF_HUB_OFFLINE": "1",  # the model comes from a local folder; never reach a hub
    "ASSISTANTS_ENGINE_DTYPE": "float32",  # bf16 has no fast path on this CPU
    "ASSISTANTS_ENGINE_ENFORCE_EAGER": "true",  # skips a ~2 minute compile
    "ASSISTANTS_ENGINE_MAX_MODEL_LEN": "8192",
    # ~27 tokens/s here: a completion cap for runs that set none (the GPU default is the context left).
    "ASSISTANTS_DEFAULT_MAX_COMPLETION_TOKENS": "1024",
}


def apply_cpu_defaults(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set every default that is not already set; returns the ones that were applied."""
    target = os.environ if environ is None else environ
    applied = {name: value for name, value in CPU_ENVIRONMENT_DEFAULTS.items() if name not in target}
    target.update(applied)
    return applied
