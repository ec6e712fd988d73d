"""Ports of files, uploads and vector stores (kept beside ``ports.py`` so each resource's ports stay small).

Same rules as ``ports.py``: every read of a tenant's object takes ``owner`` and raises ``NotFoundError`` for
another tenant's object; conditional writes that lose raise ``ConflictError`` (or what is documented).
"""

from __future__ import annotations

from typing import Protocol

from assistants_core.domain.files import StoredFile, Upload, UploadPart
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

    def assemble(self, key: str, sources: list[str], *, content_type: str) -> str:
        """Write the concatenation of the ``sources`` objects, in order, to ``key`` (an S3 multipart upload;
        aborted on failure, so nothing is left behind) and return its MD5 hex digest."""


class UploadRepository(Protocol):
    def put_upload(self, upload: Upload) -> None: ...
    def get_upload(self, owner: str, upload_id: str) -> Upload: ...
    def add_part(self, owner: str, part: UploadPart) -> None:
        """Put ``part`` iff its upload is this owner's and still ``pending`` (``UploadStateError`` else)."""

    def list_parts(self, upload_id: str) -> list[UploadPart]: ...
    def complete_upload(self, upload: Upload, file: StoredFile) -> Upload:
        """One transaction: upload ``pending`` -> ``completed`` (with ``file_id``) and put ``file``.
        ``UploadStateError`` when the upload is no longer pending."""

    def cancel_upload(self, owner: str, upload_id: str) -> Upload:
        """``pending`` -> ``cancelled``; ``UploadStateError`` when it is not pending."""

    def delete_parts(self, upload_id: str, part_ids: list[str]) -> None: ...
