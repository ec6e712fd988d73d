"""File use cases: upload (one multipart request), retrieve, list, delete, content.

A file's bytes go to the object store first and its metadata second; when the metadata write fails the
object is deleted again, so a failed request leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable

from assistants_core.domain import files as rules
from assistants_core.domain.errors import InvalidRequestError, NotFoundError
from assistants_core.domain.files import StoredFile
from assistants_core.domain.models import Page, PageRequest
from assistants_core.file_ports import FileRepository, ObjectStore
from assistants_core.ports import Clock
from assistants_core.schemas.files import FileExpiresAfter

MAX_FILE_LIST_LIMIT = 10_000  # ListFiles: limit between 1 and 10,000, default 10,000
BODY_PREFIX = "files/"


def file_body_key(file_id: str) -> str:
    return f"{BODY_PREFIX}{file_id}"


def validate_purpose(purpose: str, allowed: frozenset[str]) -> None:
    if purpose not in allowed:
        expected = ", ".join(f"'{value}'" for value in sorted(allowed))
        raise InvalidRequestError(
            f"Invalid value for 'purpose': expected one of {expected}, but got '{purpose}' instead.",
            param="purpose",
        )


def validate_filename(filename: str, purpose: str) -> None:
    if not filename.strip():
        raise InvalidRequestError("The file must have a name.", param="file")
    allowed = rules.allowed_extensions(purpose)
    extension = rules.extension_of(filename)
    if allowed is not None and extension not in allowed:
        supported = ", ".join(sorted(allowed))
        raise InvalidRequestError(
            f"Invalid file format for purpose '{purpose}': '{filename}'. Supported formats: {supported}.",
            param="file",
            code="unsupported_file",
        )


def expiry_of(expires_after: FileExpiresAfter | None, created_at: int) -> int | None:
    if expires_after is None:
        return None
    seconds = expires_after.seconds
    if not rules.MIN_FILE_EXPIRY_SECONDS <= seconds <= rules.MAX_FILE_EXPIRY_SECONDS:
        raise InvalidRequestError(
            f"Invalid 'expires_after.seconds': expected a value between {rules.MIN_FILE_EXPIRY_SECONDS} and "
            f"{rules.MAX_FILE_EXPIRY_SECONDS}, but got {seconds} instead.",
            param="expires_after.seconds",
        )
    return created_at + seconds


def require_file_id(file_id: str, *, param: str | None = None) -> str:
    if not rules.is_file_id(file_id):
        raise NotFoundError("file", file_id, param=param)
    return file_id


class FileService:
    def __init__(
        self,
        files: FileRepository,
        objects: ObjectStore,
        clock: Clock,
        *,
        detach: Callable[[str, str], None] | None = None,
    ) -> None:
        """``detach(owner, file_id)`` takes a file out of every vector store before it is deleted."""
        self._files = files
        self._objects = objects
        self._clock = clock
        self._detach = detach

    def create(
        self,
        owner: str,
        *,
        filename: str,
        purpose: str,
        data: bytes,
        content_type: str,
        expires_after: FileExpiresAfter | None = None,
    ) -> StoredFile:
        validate_purpose(purpose, rules.FILE_PURPOSES)
        validate_filename(filename, purpose)
        if not data:
            raise InvalidRequestError("File is empty. Upload a file with content.", param="file")
        if len(data) > rules.MAX_DIRECT_UPLOAD_BYTES:
            raise InvalidRequestError(
                "File is too large to upload in one request: the limit is "
                f"{rules.MAX_DIRECT_UPLOAD_BYTES} bytes. Upload larger files in parts with the Uploads API "
                "(POST /v1/uploads, e.g. client.uploads.upload_file_chunked).",
                param="file",
                code="file_too_large",
            )
        now = self._clock.now()
        created_at = int(now)
        file_id = rules.new_file_id(int(now * 1000))
        file = StoredFile(
            id=file_id,
            owner=owner,
            created_at=created_at,
            bytes=len(data),
            filename=filename,
            purpose=purpose,
            body_key=file_body_key(file_id),
            expires_at=expiry_of(expires_after, created_at),
        )
        self._objects.put_object(file.body_key, data, content_type=content_type)
        self.register(file, on_failure=lambda: self._objects.delete_objects([file.body_key]))
        return file

    def register(self, file: StoredFile, *, on_failure: Callable[[], None]) -> None:
        """Put the metadata of a file whose bytes are stored; ``on_failure`` undoes the store."""
        try:
            self._files.put_file(file)
        except BaseException:
            on_failure()
            raise

    def retrieve(self, owner: str, file_id: str) -> StoredFile:
        require_file_id(file_id, param="file_id")
        file = self._files.get_file(owner, file_id)
        if file.expired(self._clock.now()):
            raise NotFoundError("file", file_id, param="file_id")
        return file

    def list(
        self,
        owner: str,
        *,
        purpose: str | None = None,
        limit: int = MAX_FILE_LIST_LIMIT,
        order: str = "desc",
        after: str | None = None,
    ) -> Page[StoredFile]:
        if not 1 <= limit <= MAX_FILE_LIST_LIMIT:
            raise InvalidRequestError(
                "Invalid 'limit': integer out of range. Expected a value between 1 and "
                f"{MAX_FILE_LIST_LIMIT}, but got {limit} instead.",
                param="limit",
            )
        if order not in ("asc", "desc"):
            raise InvalidRequestError(
                f"Invalid value for 'order': expected one of 'asc' or 'desc', but got '{order}' instead.",
                param="order",
            )
        page = PageRequest(limit=limit, order=order, after=after or None)
        return self._files.list_files(owner, page, purpose=purpose or None, now=self._clock.now())

    def delete(self, owner: str, file_id: str) -> StoredFile:
        require_file_id(file_id, param="file_id")
        self._files.get_file(owner, file_id)  # another tenant's file: 404 before anything changes
        if self._detach is not None:
            self._detach(owner, file_id)
        file = self._files.delete_file(owner, file_id)
        self._objects.delete_objects([file.body_key])
        return file

    def content(self, owner: str, file_id: str) -> tuple[StoredFile, bytes]:
        file = self.retrieve(owner, file_id)
        return file, self._objects.get_object(file.body_key)
