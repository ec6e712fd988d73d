"""``WorkerSpawner`` adapters: Modal's ``spawn`` of one consumer in the cloud, a recording stand-in locally.

The Modal client is imported only when a wake happens (it reads ``MODAL_TOKEN_ID`` / ``MODAL_TOKEN_SECRET``
/ ``MODAL_ENVIRONMENT`` itself), so the API's cold start does not pay for it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

# gpu_worker/app.py: ``GpuWorker.consume`` drains the queue until it stays idle; ``IngestionWorker.consume``
# the ingestion queue.
WORKER_CLASS_NAME = "GpuWorker"
INGESTION_WORKER_CLASS_NAME = "IngestionWorker"
CONSUME_METHOD_NAME = "consume"


class ModalWorkerSpawner:
    """``modal.Cls.from_name(app, "GpuWorker")().consume.spawn()``: one consumer, returns at once."""

    def __init__(
        self, app_name: str, *, worker_class: str = WORKER_CLASS_NAME, modal_module: Any = None
    ) -> None:
        self._app_name = app_name
        self._worker_class = worker_class
        self._modal = modal_module

    def spawn_consumer(self) -> None:
        modal = self._modal
        if modal is None:
            import modal  # lazy: only a wake needs the client
        worker_class = modal.Cls.from_name(self._app_name, self._worker_class)
        getattr(worker_class(), CONSUME_METHOD_NAME).spawn()


class LocalWorkerSpawner:
    """The local stack's stand-in for Modal: records each wake (the local worker runs all the time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spawned = 0

    def spawn_consumer(self) -> None:
        with self._lock:
            self.spawned += 1
        logger.info("local worker wake #%d (Modal would spawn a consumer here)", self.spawned)
