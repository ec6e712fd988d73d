"""Key layout and item mappers of vector stores in the single table.

VS#<vs_id>     / VS                  vector store, counters per file status + usage_bytes
                                     (GSI1: OWNER#<owner>#VS / <vs_id>; GSI2 while it has an expiry:
                                     EXPIRING / <expires_at>#vs#<vs_id>, moved with last_active_at)
VS#<vs_id>     / FILE#<file_id>      a file in the store (status, usage_bytes, last_error, attributes)
                                     (GSI1: VSFILES#<vs_id> / <created_at>#<file_id>: the order files were
                                     added in, which OpenAI lists by)
VS#<vs_id>     / BATCH#<batch_id>    a file batch, counters per file status
FILE#<file_id> / VS#<vs_id>          link: the stores a file is in (deleting the file detaches it)

A store file in progress is also in the sparse index GSI2 (``INGESTING`` / ``<created_at>#<vs>#<file>``),
so a lost ingestion message can be found and sent again without a scan; finishing removes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from assistants_core.adapters.dynamodb.expressions import Item
from assistants_core.adapters.dynamodb.file_items import STORE_KIND, expiring_keys, file_pk
from assistants_core.domain.vector_stores import (
    ChunkingStrategy,
    FileBatch,
    FileCounts,
    FileStatus,
    VectorStore,
    VectorStoreFile,
)

STORE_SK = "VS"
STORE_FILE_PREFIX = "FILE#"
BATCH_PREFIX = "BATCH#"
LINK_PREFIX = "VS#"
COUNTER_NAMES = tuple(status.value for status in FileStatus)
INGESTING_PARTITION = "INGESTING"
INGESTING_INDEX = "GSI2"
ADDED_ORDER_INDEX = "GSI1"


def store_pk(vector_store_id: str) -> str:
    return f"VS#{vector_store_id}"


def stores_of(owner: str) -> str:
    return f"OWNER#{owner}#VS"


def store_file_sk(file_id: str) -> str:
    return STORE_FILE_PREFIX + file_id


def files_added_to(vector_store_id: str) -> str:
    return f"VSFILES#{vector_store_id}"


def added_order_sk(created_at: int, file_id: str) -> str:
    """Sorts by the time the file was added to the store, then (same second) by file id."""
    return f"{created_at:012d}#{file_id}"


def batch_sk(batch_id: str) -> str:
    return BATCH_PREFIX + batch_id


def link_key(file_id: str, vector_store_id: str) -> tuple[str, str]:
    return file_pk(file_id), LINK_PREFIX + vector_store_id


def _counters(counts: FileCounts) -> Item:
    return {name: counts.of(FileStatus(name)) for name in COUNTER_NAMES}


def _counts_from(item: Mapping[str, Any]) -> FileCounts:
    return FileCounts(**{name: int(item.get(name, 0)) for name in COUNTER_NAMES})


def store_to_item(store: VectorStore) -> Item:
    item: Item = {
        "PK": store_pk(store.id),
        "SK": STORE_SK,
        "GSI1PK": stores_of(store.owner),
        "GSI1SK": store.id,
        **expiring_keys(STORE_KIND, store.id, store.expires_at),
        "id": store.id,
        "owner": store.owner,
        "created_at": store.created_at,
        "name": store.name,
        "description": store.description,
        "metadata": store.metadata,
        "expires_after_days": store.expires_after_days,
        "last_active_at": store.last_active_at,
        "usage_bytes": store.usage_bytes,
        **_counters(store.counts),
    }
    return item


def store_from_item(item: Mapping[str, Any]) -> VectorStore:
    return VectorStore(
        id=item["id"],
        owner=item["owner"],
        created_at=int(item["created_at"]),
        name=item.get("name"),
        description=item.get("description"),
        metadata=dict(item.get("metadata", {})),
        expires_after_days=item.get("expires_after_days"),
        last_active_at=item.get("last_active_at"),
        usage_bytes=int(item.get("usage_bytes", 0)),
        counts=_counts_from(item),
    )


def store_file_to_item(file: VectorStoreFile) -> Item:
    return {
        "PK": store_pk(file.vector_store_id),
        "SK": store_file_sk(file.id),
        "GSI1PK": files_added_to(file.vector_store_id),
        "GSI1SK": added_order_sk(file.created_at, file.id),
        "id": file.id,
        "owner": file.owner,
        "vector_store_id": file.vector_store_id,
        "created_at": file.created_at,
        "status": file.status.value,
        "usage_bytes": file.usage_bytes,
        "last_error": file.last_error,
        "max_chunk_size_tokens": file.chunking.max_chunk_size_tokens,
        "chunk_overlap_tokens": file.chunking.chunk_overlap_tokens,
        # JSON keeps floats and booleans apart (DynamoDB numbers would not).
        "attributes": json.dumps(file.attributes, separators=(",", ":")),
        "batch_id": file.batch_id,
        "filename": file.filename,
        "attempts": file.attempts,
        "lease_expires_at": file.lease_expires_at,
        **(
            {
                "GSI2PK": INGESTING_PARTITION,
                "GSI2SK": f"{file.created_at:012d}#{file.vector_store_id}#{file.id}",
            }
            if file.status is FileStatus.IN_PROGRESS
            else {}
        ),
    }


def store_file_from_item(item: Mapping[str, Any]) -> VectorStoreFile:
    lease = item.get("lease_expires_at")
    return VectorStoreFile(
        id=item["id"],
        owner=item["owner"],
        vector_store_id=item["vector_store_id"],
        created_at=int(item["created_at"]),
        status=FileStatus(item["status"]),
        usage_bytes=int(item.get("usage_bytes", 0)),
        last_error=item.get("last_error"),
        chunking=ChunkingStrategy(
            max_chunk_size_tokens=int(item["max_chunk_size_tokens"]),
            chunk_overlap_tokens=int(item["chunk_overlap_tokens"]),
        ),
        attributes=json.loads(item.get("attributes", "{}")),
        batch_id=item.get("batch_id"),
        filename=item.get("filename", ""),
        attempts=int(item.get("attempts", 0)),
        lease_expires_at=float(lease) if lease is not None else None,
    )


def batch_to_item(batch: FileBatch) -> Item:
    return {
        "PK": store_pk(batch.vector_store_id),
        "SK": batch_sk(batch.id),
        "id": batch.id,
        "owner": batch.owner,
        "vector_store_id": batch.vector_store_id,
        "created_at": batch.created_at,
        "expected": batch.expected,
        **_counters(batch.counts),
        "batch_cancelled": batch.cancelled,  # not "cancelled": that is the counter of cancelled files
    }


def batch_from_item(item: Mapping[str, Any]) -> FileBatch:
    return FileBatch(
        id=item["id"],
        owner=item["owner"],
        vector_store_id=item["vector_store_id"],
        created_at=int(item["created_at"]),
        expected=int(item["expected"]),
        counts=_counts_from(item),
        cancelled=bool(item.get("batch_cancelled", False)),
    )
