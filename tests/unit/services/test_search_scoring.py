"""Attribute filters (OpenAI's comparison/compound filters) and hybrid scoring, without storage."""

from __future__ import annotations

from typing import Any

import pytest

from assistants_core.domain.chunks import IndexedFile, decode_indexed_file, encode_indexed_file, pack_vectors
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.services.attribute_filters import matches, validate_filter
from assistants_core.services.hybrid_search import LoadedFile, rank

ATTRIBUTES = {"author": "ann", "year": 2024, "draft": False, "score": 4.5}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "eq", "key": "author", "value": "ann"}, True),
        ({"type": "ne", "key": "author", "value": "ann"}, False),
        ({"type": "gt", "key": "year", "value": 2023}, True),
        ({"type": "gte", "key": "year", "value": 2024}, True),
        ({"type": "lt", "key": "score", "value": 4.5}, False),
        ({"type": "lte", "key": "score", "value": 4.5}, True),
        ({"type": "in", "key": "author", "value": ["bob", "ann"]}, True),
        ({"type": "nin", "key": "author", "value": ["bob", "ann"]}, False),
        ({"type": "eq", "key": "draft", "value": False}, True),
        ({"type": "gt", "key": "author", "value": 3}, False),  # a string never compares with a number
        ({"type": "eq", "key": "missing", "value": "x"}, False),
        ({"type": "ne", "key": "missing", "value": "x"}, True),
        (
            {
                "type": "and",
                "filters": [
                    {"type": "eq", "key": "author", "value": "ann"},
                    {
                        "type": "or",
                        "filters": [
                            {"type": "lt", "key": "year", "value": 2000},
                            {"type": "eq", "key": "draft", "value": False},
                        ],
                    },
                ],
            },
            True,
        ),
    ],
)
def test_filters(node: dict[str, Any], expected: bool) -> None:
    validate_filter(node)
    assert matches(node, ATTRIBUTES) is expected


@pytest.mark.parametrize(
    ("node", "param"),
    [
        ({"type": "like", "key": "a", "value": 1}, "filters.type"),
        ({"type": "eq", "key": 3, "value": 1}, "filters.key"),
        ({"type": "in", "key": "a", "value": "x"}, "filters.value"),
        ({"type": "and", "filters": []}, "filters.filters"),
        (
            {"type": "or", "filters": [{"type": "eq", "key": "a", "value": {"x": 1}}]},
            "filters.filters[0].value",
        ),
    ],
)
def test_bad_filters_name_the_param(node: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        validate_filter(node)
    assert raised.value.param == param


def loaded(file_id: str, chunks: list[str], vectors: list[list[float]]) -> LoadedFile:
    indexed = IndexedFile(
        model="m", dimensions=2, text=" ".join(chunks), chunks=chunks, vectors=pack_vectors(vectors)
    )
    return LoadedFile.of(file_id, decode_indexed_file(encode_indexed_file(indexed)))


def test_vector_ranking_keyword_boost_and_threshold() -> None:
    files = [
        loaded("a", ["north wind", "south sea zebra"], [[1.0, 0.0], [0.0, 1.0]]),
        loaded("b", ["east coast"], [[0.8, 0.6]]),
    ]
    by_vector = rank(files, [[1.0, 0.0]], ["north"], hybrid=False, limit=3)
    assert [(hit.file_id, hit.chunk) for hit in by_vector] == [("a", 0), ("b", 0), ("a", 1)]
    assert [round(hit.score, 3) for hit in by_vector] == [1.0, 0.8, 0.0]
    # "zebra" appears in one chunk only: the keyword half lifts it above a closer vector.
    hybrid = rank(files, [[0.8, 0.6]], ["zebra"], hybrid=True, limit=3)
    assert [(hit.file_id, hit.chunk) for hit in hybrid[:2]] == [("a", 1), ("b", 0)]
    assert [round(hit.score, 3) for hit in hybrid[:2]] == [0.72, 0.7]  # 0.7 * 0.6 + 0.3 * 1 vs 0.7 * 1
    assert rank(files, [[1.0, 0.0]], ["north"], hybrid=False, limit=3, threshold=0.9)[
        0
    ].score == pytest.approx(1.0)
    assert len(rank(files, [[1.0, 0.0]], ["north"], hybrid=False, limit=3, threshold=0.9)) == 1
    assert all(0.0 <= hit.score <= 1.0 for hit in hybrid)
