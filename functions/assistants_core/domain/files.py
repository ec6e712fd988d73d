"""Files and uploads: domain objects, id kinds and the rules OpenAI applies to them.

Ids follow OpenAI's shapes (``file-...``, ``upload_...``, ``part_...``) and are time-sortable like every id of
the project (``domain.ids``), so a per-tenant index sorted by id lists them in creation order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError

FILE_PREFIX = "file-"
UPLOAD = "upload"
UPLOAD_PART = "part"

# Purposes a client may upload with (CreateFileRequest.purpose) and with an Upload (CreateUploadRequest).
FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
UPLOAD_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision"})

# One request through API Gateway + Lambda carries at most 6 MB, and a binary body reaches Lambda base64
# encoded (4/3 larger): a file sent in one multipart request must stay under this; larger ones go through
# the Uploads API in parts of at most this size.
MAX_DIRECT_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_PART_BYTES = MAX_DIRECT_UPLOAD_BYTES
# OpenAI: "Individual files can be up to 512 MB".
MAX_FILE_BYTES = 512 * 1024 * 1024
# An Upload accepts parts for an hour after it was created (OpenAI).
UPLOAD_LIFETIME_SECONDS = 3600
# FileExpirationAfter.seconds: "Must be between 3600 (1 hour) and 2592000 (30 days)".
MIN_FILE_EXPIRY_SECONDS = 3600
MAX_FILE_EXPIRY_SECONDS = 2_592_000

# What the ingestion worker can parse (gpu_worker/ingestion/parsers.py): OpenAI's file_search list less
# .doc and .pptx, for which no small maintained pure-Python parser exists. A vector store fails any other
# file at once with ``unsupported_file``; code_interpreter files may have the rest of ASSISTANTS_EXTENSIONS.
SEARCHABLE_EXTENSIONS = frozenset(
    {
        "c", "cpp", "cs", "css", "docx", "go", "html", "java", "js", "json", "md", "pdf", "php", "py",
        "rb", "sh", "tex", "ts", "txt",
    }
)  # fmt: skip
ASSISTANTS_EXTENSIONS = SEARCHABLE_EXTENSIONS | frozenset(
    {"csv", "doc", "gif", "jpeg", "jpg", "pkl", "png", "pptx", "tar", "webp", "xlsx", "xml", "zip"}
)
_EXTENSIONS_BY_PURPOSE: dict[str, frozenset[str]] = {
    "assistants": ASSISTANTS_EXTENSIONS,
    "batch": frozenset({"jsonl"}),
    "fine-tune": frozenset({"jsonl"}),
    "evals": frozenset({"jsonl"}),
    "vision": frozenset({"gif", "jpeg", "jpg", "png", "webp"}),
}


def new_file_id(now_ms: int) -> str:
    """``file-<time-sortable id>`` (OpenAI's file ids use a dash)."""
    return FILE_PREFIX + ids.new_id("file", now_ms=now_ms).split("_", 1)[1]


def is_file_id(object_id: str) -> bool:
    return object_id.startswith(FILE_PREFIX) and len(object_id) > len(FILE_PREFIX)


def extension_of(filename: str) -> str:
    _, dot, extension = filename.rpartition(".")
    return extension.lower() if dot else ""


def allowed_extensions(purpose: str) -> frozenset[str] | None:
    """The extensions a purpose accepts, or None when any is fine (``user_data``)."""
    return _EXTENSIONS_BY_PURPOSE.get(purpose)


@dataclass(slots=True)
class StoredFile:
    """A file's metadata; its bytes are in the object store under ``body_key``."""

    id: str
    owner: str
    created_at: int
    bytes: int
    filename: str
    purpose: str
    body_key: str
    expires_at: int | None = None
    status: str = "processed"

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class UploadStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class UploadStateError(InvalidRequestError):
    """The upload is not ``pending`` (completed, cancelled or expired): it takes no parts and no changes."""

    def __init__(self, upload_id: str, status: str, action: str) -> None:
        super().__init__(f"Cannot {action} upload {upload_id} with status '{status}'.", param="upload_id")
        self.status = status


@dataclass(slots=True)
class Upload:
    id: str
    owner: str
    created_at: int
    filename: str
    bytes: int
    purpose: str
    mime_type: str
    expires_at: int
    status: UploadStatus = UploadStatus.PENDING
    file_expires_after_seconds: int | None = None
    file_id: str | None = None


@dataclass(slots=True)
class UploadPart:
    id: str
    upload_id: str
    created_at: int
    bytes: int
    body_key: str


@dataclass(slots=True)
class UploadWithParts:
    upload: Upload
    parts: list[UploadPart] = field(default_factory=list)
