"""Ingestion end to end through the official openai SDK: the local stack's API plus the ingestion consumer
(as wired for production, hashing embedder for speed) in a thread. A PDF and a DOCX made here are parsed
and indexed; the SDK's ``create_and_poll`` and ``upload_and_poll`` helpers see ``completed``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from openai import OpenAI

from assistants_core.settings import IngestionWorkerSettings
from gpu_worker.ingestion.embedders import HashingEmbedder, bundled_minilm_path
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
    consumer = build_ingestion_consumer(settings, HashingEmbedder(), receive_wait_seconds=1)
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
