"""Wake the worker when a run is created and no consumer is live, instead of waiting for the worker's
once-a-minute schedule: a scaled-to-zero deployment starts its GPU container right away."""

from __future__ import annotations

import logging

from assistants_core.file_ports import IngestionQueue, IngestionRef
from assistants_core.ports import Clock, WorkerPresence, WorkerSpawner

logger = logging.getLogger(__name__)


class WorkerWakeService:
    def __init__(
        self, presence: WorkerPresence, spawner: WorkerSpawner, clock: Clock, *, debounce_seconds: float
    ) -> None:
        self._presence = presence
        self._spawner = spawner
        self._clock = clock
        self._debounce_seconds = debounce_seconds

    def wake_if_idle(self) -> bool:
        """Spawn one consumer when none is live and no wake happened within the debounce window; returns
        whether it did. Never raises: the run is already stored and queued, and the worker's schedule (and
        the sweeper) still pick it up if the wake fails."""
        try:
            if not self._presence.claim_wake(self._clock.now(), self._debounce_seconds):
                return False
            self._spawner.spawn_consumer()
        except Exception:  # a wake is an optimisation; the queued run is safe without it
            logger.exception("worker wake failed; the worker's schedule will start a consumer")
            return False
        logger.info("worker wake requested")
        return True


class WakingIngestionQueue:
    """An ``IngestionQueue`` that wakes the ingestion worker after each file is queued, as a run create wakes
    the run worker (debounced: within the window a wake costs one read)."""

    def __init__(self, queue: IngestionQueue, wake: WorkerWakeService) -> None:
        self._queue = queue
        self._wake = wake

    def enqueue_ingestion(self, ref: IngestionRef) -> None:
        self._queue.enqueue_ingestion(ref)
        self._wake.wake_if_idle()
