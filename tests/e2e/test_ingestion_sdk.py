"""Ingestion end to end through the official openai SDK: the local stack's API plus the ingestion consumer
(as wired for production; the embedding model in numpy) in a thread. A PDF and a DOCX made here are parsed
and indexed; the SDK's ``create_and_poll`` and ``upload_and_poll`` helpers see ``completed``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from openai import OpenAI

from assistants_core.adapters.minilm_numpy import NumpyMiniLm
from assistants_core.settings import IngestionWorkerSettings
from gpu_worker.ingestion.embedders import bundled_minilm_path
from gpu_worker.ingestion.main import build_ingestion_consumer
from tests.documents import make_docx, make_pdf
from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ingestion_worker(local_stack: LocalStackHandle) -> Iterator[None]:
    settings = IngestionWorkerSettings(
        table_name=local_stack.resources.table_name,
        bucket_name=local_stack.resources.bucket_name,
        run_queue_url=local_stack.resources.run_queue_url,
        aws_endpoint_url=local_stack.environment["ASSISTANTS_AWS_ENDPOINT_URL"],
        ingestion_queue_url=local_stack.resources.ingestion_queue_url,
        embedding_model_path=str(bundled_minilm_path()),
    )
    # The model search embeds queries with (all-MiniLM-L6-v2 in numpy), so search results mean something.
    consumer = build_ingestion_consumer(settings, NumpyMiniLm(bundled_minilm_path()), receive_wait_seconds=1)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run_forever, args=(stop,), name="e2e-ingestion", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


@pytest.fixture
def client(local_stack: LocalStackHandle, ingestion_worker: None) -> OpenAI:
    return OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)


def test_pdf_and_docx_are_ingested(client: OpenAI) -> None:
    pdf = client.files.create(
        file=("manual.pdf", make_pdf(["Lighthouse keeping manual", "Trim the wick daily."])),
        purpose="assistants",
    )
    docx = client.files.create(
        file=("minutes.docx", make_docx(["Board minutes: the budget was approved."])), purpose="assistants"
    )
    store = client.vector_stores.create(name="documents")
    for file in (pdf, docx):
        done = client.vector_stores.files.create_and_poll(
            file_id=file.id, vector_store_id=store.id, poll_interval_ms=50
        )
        assert (done.status, done.last_error) == ("completed", None)
        assert done.usage_bytes > 0
    store_now = client.vector_stores.retrieve(store.id)
    assert store_now.status == "completed"
    assert (store_now.file_counts.completed, store_now.file_counts.in_progress) == (2, 0)
    pdf_text = client.vector_stores.files.content(pdf.id, vector_store_id=store.id)
    assert "Trim the wick daily." in "".join(part.text for part in pdf_text)
    docx_text = client.vector_stores.files.content(docx.id, vector_store_id=store.id)
    assert "budget was approved" in "".join(part.text for part in docx_text)
    client.vector_stores.delete(store.id)


def test_upload_and_poll_helpers(client: OpenAI) -> None:
    store = client.vector_stores.create(name="helpers")
    single = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("single.md", b"# Heading\n\nSome markdown."), poll_interval_ms=50
    )
    assert single.status == "completed"
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id,
        files=[
            ("one.txt", b"first text file"),
            ("two.html", b"<p>second file</p>"),
            ("three.py", b"print(3)"),
        ],
        poll_interval_ms=50,
    )
    assert batch.status == "completed"
    assert (batch.file_counts.completed, batch.file_counts.total) == (3, 3)
    listed = client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, filter="completed"
    )
    assert len(listed.data) == 3
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 4
    client.vector_stores.delete(store.id)


@pytest.fixture(scope="module")
def searchable(local_stack: LocalStackHandle, ingestion_worker: None) -> str:
    client = OpenAI(base_url=local_stack.base_url, api_key=local_stack.api_key, max_retries=0)
    store = client.vector_stores.create(name="search")
    documents = [
        (
            "rockets.md",
            b"Rockets reach orbit by burning fuel to reach about eight kilometres per second.",
            "space",
        ),
        ("soup.html", b"<p>Tomato soup recipe: simmer tomatoes, onion and garlic, then blend.</p>", "food"),
        ("cats.txt", b"House cats sleep most of the day. The zanzibarite collar is purple.", "pets"),
    ]
    for name, body, topic in documents:
        file = client.files.create(file=(name, body), purpose="assistants")
        done = client.vector_stores.files.create_and_poll(
            file_id=file.id,
            vector_store_id=store.id,
            attributes={"topic": topic, "size": len(body)},
            poll_interval_ms=50,
        )
        assert done.status == "completed"
    return store.id


def test_search_ranks_by_meaning_and_keywords(client: OpenAI, searchable: str) -> None:
    before = client.vector_stores.retrieve(searchable).last_active_at
    page = client.vector_stores.search(searchable, query="How do spacecraft get into orbit?")
    assert page.search_query == ["How do spacecraft get into orbit?"]
    assert page.data[0].filename == "rockets.md"
    assert all(0.0 <= item.score <= 1.0 for item in page.data)
    assert page.data[0].content[0].text.startswith("Rockets reach orbit")
    assert page.data[0].attributes == {"topic": "space", "size": 79}
    # A rare exact word ranks its chunk first (the keyword half of the hybrid ranker).
    assert client.vector_stores.search(searchable, query="zanzibarite").data[0].filename == "cats.txt"
    assert len(client.vector_stores.search(searchable, query="soup", max_num_results=1).data) == 1
    assert client.vector_stores.retrieve(searchable).last_active_at >= (before or 0)  # type: ignore[operator]


def test_search_filters_and_ranking_options(client: OpenAI, searchable: str) -> None:
    food = client.vector_stores.search(
        searchable, query="orbit", filters={"type": "eq", "key": "topic", "value": "food"}
    )
    assert [item.filename for item in food.data] == ["soup.html"]
    either = client.vector_stores.search(
        searchable,
        query="anything",
        filters={
            "type": "or",
            "filters": [
                {"type": "eq", "key": "topic", "value": "pets"},
                {"type": "gt", "key": "size", "value": 75},
            ],
        },
    )
    assert sorted(item.filename for item in either.data) == ["cats.txt", "rockets.md"]
    none_ranker = client.vector_stores.search(
        searchable, query="tomato soup", ranking_options={"ranker": "none", "score_threshold": 0.3}
    )
    assert [item.filename for item in none_ranker.data] == ["soup.html"]
    assert (
        client.vector_stores.search(searchable, query="tomato", ranking_options={"score_threshold": 1.0}).data
        == []
    )


def test_bad_searches(client: OpenAI, local_stack: LocalStackHandle, searchable: str) -> None:
    import openai

    with pytest.raises(openai.BadRequestError):
        client.vector_stores.search(searchable, query="x", max_num_results=51)
    with pytest.raises(openai.BadRequestError) as raised:
        client.vector_stores.search(searchable, query="x", filters={"type": "like", "key": "a", "value": 1})  # type: ignore[typeddict-item]
    assert raised.value.param == "filters.type"  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.search(searchable, query="")
    other = OpenAI(base_url=local_stack.base_url, api_key=local_stack.other_api_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.search(searchable, query="orbit")
