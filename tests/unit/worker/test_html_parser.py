"""HTML text for ingestion: a table row's cells stay separate words (BM25 must see "york" and "85")."""

from __future__ import annotations

from gpu_worker.ingestion.parsers import extract_text


def test_table_cells_are_separate_words() -> None:
    page = b"<table><tr><th>City</th><th>Fee</th></tr><tr><td>New York</td><td>85 euros</td></tr></table>"
    text = extract_text("prices.html", page)
    assert "New York 85 euros" in text
    assert "City Fee" in text
    assert "York85" not in text
