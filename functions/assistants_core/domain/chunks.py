"""The indexed form of one file in one vector store: its parsed text, its chunks and their embeddings, in
one binary blob (a JSON header, then float32 vectors, little-endian). Written once per (store, file) by the
ingestion worker, read by search and by ``vector_stores.files.content``."""

from __future__ import annotations

import json
import struct
import sys
from array import array
from dataclasses import dataclass

_HEADER_LENGTH = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class IndexedFile:
    model: str
    dimensions: int
    text: str
    chunks: list[str]
    vectors: bytes  # len(chunks) * dimensions float32 values, little-endian, row-major

    def vector(self, index: int) -> list[float]:
        values = array("f")
        start = index * self.dimensions * 4
        values.frombytes(self.vectors[start : start + self.dimensions * 4])
        if sys.byteorder != "little":
            values.byteswap()
        return list(values)


def pack_vectors(vectors: list[list[float]]) -> bytes:
    values = array("f", [value for vector in vectors for value in vector])
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def encode_indexed_file(indexed: IndexedFile) -> bytes:
    header = json.dumps(
        {
            "model": indexed.model,
            "dimensions": indexed.dimensions,
            "text": indexed.text,
            "chunks": indexed.chunks,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return _HEADER_LENGTH.pack(len(header)) + header + indexed.vectors


def decode_indexed_file(blob: bytes) -> IndexedFile:
    (length,) = _HEADER_LENGTH.unpack_from(blob)
    header = json.loads(blob[_HEADER_LENGTH.size : _HEADER_LENGTH.size + length])
    vectors = blob[_HEADER_LENGTH.size + length :]
    if len(vectors) != len(header["chunks"]) * header["dimensions"] * 4:
        raise ValueError("indexed file: vector bytes do not match the chunk count")
    return IndexedFile(
        model=header["model"],
        dimensions=int(header["dimensions"]),
        text=header["text"],
        chunks=list(header["chunks"]),
        vectors=vectors,
    )
