"""OpenAI's static chunking strategy: windows of ``max_chunk_size_tokens`` tokens, each starting
``max_chunk_size_tokens - chunk_overlap_tokens`` tokens after the previous one (defaults 800 / 400), counted
with a real tokenizer (the embedding model's own, so a chunk's token count is what the model sees). A
chunk's text is the exact slice of the source between its first and last token, so nothing is rewritten."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistants_core.domain.vector_stores import ChunkingStrategy


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    tokens: int


class TokenCounter:
    """A Hugging Face ``tokenizers`` tokenizer (``tokenizer.json``), without truncation or padding."""

    def __init__(self, tokenizer_json: str | Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer: Any = Tokenizer.from_file(str(tokenizer_json))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every token of ``text`` (special tokens left out)."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(start, end) for start, end in encoding.offsets if end > start]


def chunk_text(text: str, strategy: ChunkingStrategy, counter: TokenCounter) -> list[Chunk]:
    spans = counter.offsets(text)
    size = strategy.max_chunk_size_tokens
    step = size - strategy.chunk_overlap_tokens
    chunks: list[Chunk] = []
    start = 0
    while start < len(spans):
        window = spans[start : start + size]
        chunks.append(Chunk(text=text[window[0][0] : window[-1][1]], tokens=len(window)))
        if start + size >= len(spans):
            break
        start += step
    return chunks
