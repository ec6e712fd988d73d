"""Vector store files against moto: listed in the order they were added to the store (OpenAI's created_at
order), paged by key conditions on GSI1, not in file-id order."""

from __future__ import annotations

from typing import Any

import pytest

from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.files import new_file_id
from assistants_core.domain.models import PageRequest
from assistants_core.domain.vector_stores import FileStatus, VectorStore, VectorStoreFile
from tests.contract.factories import OWNER, now
from tests.contract.pagination import assert_paginates


@pytest.fixture
def stores(dynamo_table: DynamoTable) -> DynamoVectorStoreRepository:
    return DynamoVectorStoreRepository(dynamo_table)


def make_store(**overrides: Any) -> VectorStore:
    fields: dict[str, Any] = {"id": ids.new_id("vs"), "owner": OWNER, "created_at": now()}
    return VectorStore(**{**fields, **overrides})


def add_file(
    stores: DynamoVectorStoreRepository, store: VectorStore, file_id: str, created_at: int
) -> VectorStoreFile:
    file = VectorStoreFile(id=file_id, owner=store.owner, vector_store_id=store.id, created_at=created_at)
    assert stores.add_file(file)
    return file


def test_files_are_listed_in_the_order_they_were_added_not_by_file_id(
    stores: DynamoVectorStoreRepository, dynamo_table: DynamoTable
) -> None:
    store = make_store()
    stores.create_store(store)
    start = now()
    file_ids = [new_file_id(1_000_000 + index) for index in range(7)]
    # Added newest file first: file-id order is the reverse of the order they were added in.
    added = list(reversed(file_ids))
    for offset, file_id in enumerate(added):
        add_file(stores, store, file_id, start + offset)

    queries: list[dict[str, Any]] = []
    dynamo_table.client.meta.events.register(
        "provide-client-params.dynamodb.*", lambda params, **_: queries.append(params)
    )
    assert_paginates(lambda page: stores.list_files(store.id, page, in_added_order=True), added)
    listing = [params for params in queries if "KeyConditionExpression" in params]
    assert listing and all(params["IndexName"] == "GSI1" for params in listing)
    assert not [params for params in queries if "FilterExpression" in params or "Segment" in params]
    # The workers' consistent walk keeps file-id order.
    walked = stores.list_files(store.id, PageRequest(limit=100, order="asc")).data
    assert [file.id for file in walked] == file_ids


def test_files_added_in_the_same_second_follow_file_id_order_and_filters_apply(
    stores: DynamoVectorStoreRepository,
) -> None:
    store = make_store()
    stores.create_store(store)
    created = now()
    first, second, third = (new_file_id(2_000_000 + index) for index in range(3))
    for file_id in (second, first, third):
        add_file(stores, store, file_id, created)
    done = stores.find_file(store.id, second)
    assert done is not None
    assert stores.finish_file(done, FileStatus.COMPLETED, usage_bytes=10)

    listed = stores.list_files(store.id, PageRequest(limit=10, order="asc"), in_added_order=True)
    assert [file.id for file in listed.data] == [first, second, third]
    in_progress = stores.list_files(
        store.id, PageRequest(limit=10, order="desc"), status=FileStatus.IN_PROGRESS, in_added_order=True
    )
    assert [file.id for file in in_progress.data] == [third, first]


def test_a_cursor_that_is_not_a_file_of_the_store_is_a_clear_error(
    stores: DynamoVectorStoreRepository,
) -> None:
    store = make_store()
    stores.create_store(store)
    with pytest.raises(InvalidRequestError) as raised:
        stores.list_files(store.id, PageRequest(limit=10, after=new_file_id(5)), in_added_order=True)
    assert raised.value.param == "after"
