"""Deleting expired files and vector stores: part of the scheduled sweep (``sweeper.handler``).

A vector store past its ``expires_after`` reads ``expired`` at once (``VectorStore.status``) and can no
longer be searched; a file past ``expires_at`` reads as gone (404, not listed). This sweep then deletes
what they hold, each under its own owner's conditions:
- a store: its file entries, batches and file links, then its chunk index objects in S3, then the store
  item (conditional on the expiry it was read with, so a store renewed meanwhile is kept);
- a file: taken out of every store it is in (counts and chunks, as a delete through the API does), its
  body object, then its item (conditional on owner and expiry).
The indexed item goes last: a sweep that dies half-way (or fails on one object: logged, the others go
on) leaves its entry for the next sweep, which repeats the idempotent steps. Nothing is ever scanned:
expired objects come from a sparse index, soonest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from assistants_core.file_ports import ChunkIndex, ExpiredObjects, ObjectStore, VectorStoreRepository
from assistants_core.ports import Clock

logger = logging.getLogger(__name__)

DEFAULT_EXPIRY_SWEEP_LIMIT = 50


@dataclass(slots=True)
class ExpirySweepReport:
    vector_stores: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"deleted_vector_stores": self.vector_stores, "deleted_files": self.files}


class ExpirySweep:
    def __init__(
        self,
        expired: ExpiredObjects,
        stores: VectorStoreRepository,
        index: ChunkIndex,
        objects: ObjectStore,
        clock: Clock,
        *,
        detach: Callable[[str, str], None],
        limit: int = DEFAULT_EXPIRY_SWEEP_LIMIT,
    ) -> None:
        """``detach(owner, file_id)`` takes a file out of every vector store (``VectorStoreFileService``)."""
        self._expired = expired
        self._stores = stores
        self._index = index
        self._objects = objects
        self._clock = clock
        self._detach = detach
        self._limit = limit

    def sweep(self) -> ExpirySweepReport:
        report = ExpirySweepReport()
        now = self._clock.now()
        for entry in self._expired.list_expired(now=now, limit=self._limit):
            try:
                if entry.kind == "vs" and self._delete_store(entry.id, now):
                    report.vector_stores.append(entry.id)
                elif entry.kind == "file" and self._delete_file(entry.id, now):
                    report.files.append(entry.id)
            except Exception:  # one object that cannot be deleted now must not hold up the others
                logger.exception("expired object not deleted", extra={"kind": entry.kind, "id": entry.id})
        if report.vector_stores or report.files:
            logger.info("expired objects deleted", extra=report.as_dict())
        return report

    def _delete_store(self, vector_store_id: str, now: float) -> bool:
        store = self._stores.find_store(vector_store_id)
        if store is None or store.status(now) != "expired":
            return False
        self._expired.delete_store_contents(store.id)
        self._index.delete_store_chunks(store.id)
        return self._expired.delete_store(store)

    def _delete_file(self, file_id: str, now: float) -> bool:
        file = self._expired.find_file(file_id)
        if file is None or not file.expired(now):
            return False
        self._detach(file.owner, file.id)
        self._objects.delete_objects([file.body_key])
        return self._expired.delete_file(file)
