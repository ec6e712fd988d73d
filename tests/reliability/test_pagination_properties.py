"""Property: for any item count, limit, order and after/before cursor, walking the pages of a list (the real
message repository on moto) yields every item past the cursor exactly once, in order."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistants_core.adapters.dynamodb import DynamoMessageRepository, DynamoThreadRepository
from assistants_core.domain.models import PageRequest
from tests.contract.factories import OWNER, make_message, make_thread

MAX_ITEMS = 12


@dataclass(frozen=True)
class Walk:
    count: int
    limit: int
    order: str
    cursor: str  # "none", "after" or "before"
    cursor_index: int


walks = st.integers(min_value=0, max_value=MAX_ITEMS).flatmap(
    lambda count: st.builds(
        Walk,
        count=st.just(count),
        limit=st.integers(min_value=1, max_value=MAX_ITEMS + 1),
        order=st.sampled_from(["asc", "desc"]),
        cursor=st.sampled_from(["none", "after", "before"]) if count else st.just("none"),
        cursor_index=st.integers(min_value=0, max_value=max(0, count - 1)),
    )
)


def _expected(created: list[str], walk: Walk) -> list[str]:
    ordered = created if walk.order == "asc" else created[::-1]
    if walk.cursor == "none":
        return ordered
    position = ordered.index(created[walk.cursor_index])
    return ordered[position + 1 :] if walk.cursor == "after" else ordered[:position]


def _walk(messages: DynamoMessageRepository, thread_id: str, created: list[str], walk: Walk) -> list[str]:
    """Follow the cursors as an SDK's auto-pagination does: ``after`` = last id going forward, ``before`` =
    first id going backward (those pages come in ``order`` too, so they are prepended)."""
    cursor_id = created[walk.cursor_index] if walk.cursor != "none" else None
    seen: list[str] = []
    for _ in range(walk.count + 2):  # more pages than items means the walk never ends
        request = PageRequest(
            limit=walk.limit,
            order=walk.order,
            after=cursor_id if walk.cursor in ("none", "after") else None,
            before=cursor_id if walk.cursor == "before" else None,
        )
        page = messages.list_messages(OWNER, thread_id, request)
        page_ids = [message.id for message in page.data]
        assert len(page_ids) <= walk.limit
        seen = seen + page_ids if walk.cursor != "before" else page_ids + seen
        if not page.has_more:
            return seen
        assert page_ids, "has_more with an empty page"
        cursor_id = page_ids[-1] if walk.cursor != "before" else page_ids[0]
    raise AssertionError(f"pagination did not end: {walk}")


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run (CI is reproducible)
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(walk=walks)
def test_walking_pages_yields_each_item_once_in_order(
    walk: Walk, thread_repo: DynamoThreadRepository, message_repo: DynamoMessageRepository
) -> None:
    # Each example gets its own thread (the moto tables are shared by the examples of one test).
    thread = make_thread()
    created = [make_message(thread, f"m{index}") for index in range(walk.count)]
    thread_repo.create_thread(thread, [])
    for message in created:
        message_repo.add_message(message)
    ids = [message.id for message in created]

    assert _walk(message_repo, thread.id, ids, walk) == _expected(ids, walk)
