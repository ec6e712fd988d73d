"""Key layout and item mappers of files, uploads and vector stores in the single table.

    FILE#<file_id>   / FILE                    file metadata (GSI1: OWNER#<owner>#FILE / <file_id>)
    UPLOAD#<id>      / UPLOAD                  upload (status, expected bytes)
    UPLOAD#<id>      / PART#<part_id>          one received part (its bytes are in S3)

A file or vector store that expires is also in GSI2: EXPIRING / <expires_at>#<kind>#<id> (``expiring.py``).

Attributes are the dataclass fields (None is not stored); enums are stored by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from assistants_core.adapters.dynamodb.expressions import Item
from assistants_core.adapters.dynamodb.items import _from_attributes, _to_attributes
from assistants_core.domain.files import StoredFile, Upload, UploadPart, UploadStatus

T = TypeVar("T")

FILE_SK = "FILE"
UPLOAD_SK = "UPLOAD"
PART_PREFIX = "PART#"
OWNER_INDEX = "GSI1"
EXPIRING_PARTITION = "EXPIRING"
EXPIRING_INDEX = "GSI2"
STORE_KIND = "vs"
FILE_KIND = "file"


def file_pk(file_id: str) -> str:
    return f"FILE#{file_id}"


def files_of(owner: str) -> str:
    return f"OWNER#{owner}#FILE"


def upload_pk(upload_id: str) -> str:
    return f"UPLOAD#{upload_id}"


def expiring_keys(kind: str, object_id: str, expires_at: int | None) -> Item:
    """The GSI2 attributes of an object that expires at ``expires_at`` (none when it never expires)."""
    if expires_at is None:
        return {}
    return {"GSI2PK": EXPIRING_PARTITION, "GSI2SK": f"{int(expires_at):012d}#{kind}#{object_id}"}


_NO_JSON_FIELDS: frozenset[str] = frozenset()


def attributes_of(obj: Any) -> Item:
    """The stored attributes of a domain dataclass (the mapper ``items.py`` uses, no JSON fields)."""
    return _to_attributes(obj, _NO_JSON_FIELDS)


def from_attributes(cls: type[T], item: Mapping[str, Any], **overrides: Any) -> T:
    return _from_attributes(cls, item, _NO_JSON_FIELDS, **overrides)


def file_to_item(file: StoredFile) -> Item:
    return {
        "PK": file_pk(file.id),
        "SK": FILE_SK,
        "GSI1PK": files_of(file.owner),
        "GSI1SK": file.id,
        **expiring_keys(FILE_KIND, file.id, file.expires_at),
        **attributes_of(file),
    }


def file_from_item(item: Mapping[str, Any]) -> StoredFile:
    return from_attributes(StoredFile, item)


def upload_to_item(upload: Upload) -> Item:
    return {"PK": upload_pk(upload.id), "SK": UPLOAD_SK, **attributes_of(upload)}


def upload_from_item(item: Mapping[str, Any]) -> Upload:
    return from_attributes(Upload, item, status=UploadStatus(item["status"]))


def part_to_item(part: UploadPart) -> Item:
    return {"PK": upload_pk(part.upload_id), "SK": PART_PREFIX + part.id, **attributes_of(part)}


def part_from_item(item: Mapping[str, Any]) -> UploadPart:
    return from_attributes(UploadPart, item)
