"""Ports of files, uploads and vector stores (kept beside ``ports.py`` so each resource's ports stay small).

Same rules as ``ports.py``: every read of a tenant's object takes ``owner`` and raises ``NotFoundError`` for
another tenant's object; conditional writes that lose raise ``ConflictError`` (or what is documented).
"""

from __future__ import annotations

from typing import Protocol

from assistants_core.domain.files import StoredFile
from assistants_core.domain.models import Page, PageRequest


class FileRepository(Protocol):
    def put_file(self, file: StoredFile) -> None:
        """Put a new file's metadata (condition: the id is new)."""

    def get_file(self, owner: str, file_id: str) -> StoredFile: ...
    def delete_file(self, owner: str, file_id: str) -> StoredFile:
        """Delete the metadata of this owner's file and return what was deleted."""

    def list_files(
        self, owner: str, page: PageRequest, *, purpose: str | None = None, now: float | None = None
    ) -> Page[StoredFile]:
        """A page of this owner's files (of ``purpose``; not expired at ``now``)."""


class ObjectStore(Protocol):
    """File bodies (S3)."""

    def put_object(self, key: str, body: bytes, *, content_type: str) -> None: ...
    def get_object(self, key: str) -> bytes: ...
    def delete_objects(self, keys: list[str]) -> None:
        """Delete these keys (absent keys are fine)."""
