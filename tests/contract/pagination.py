"""One pagination contract for every list: 7 items, limit 3, both orders, ``after`` and ``before``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistants_core.domain.models import Page, PageRequest

ListFunction = Callable[[PageRequest], Page[Any]]


def _ids(page: Page[Any]) -> list[str]:
    return [item.id for item in page.data]


def assert_paginates(list_page: ListFunction, created: list[str]) -> None:
    """``created`` holds exactly 7 ids in creation order."""
    assert len(created) == 7
    a, b, c, d, e, f, g = created

    def check(expected: list[str], has_more: bool, **request: Any) -> None:
        page = list_page(PageRequest(limit=request.pop("limit", 3), **request))
        assert (_ids(page), page.has_more) == (expected, has_more), request

    check([a, b, c], True, order="asc")
    check([d, e, f], True, order="asc", after=c)
    check([g], False, order="asc", after=f)
    check([g, f, e], True, order="desc")
    check([d, c, b], True, order="desc", after=e)
    check([a], False, order="desc", after=b)
    check([b, c, d], True, order="asc", before=e)
    check([a], False, order="asc", before=b)
    check([f, e, d], True, order="desc", before=c)
    check([g], False, order="desc", before=f)
    check([c, d, e], False, order="asc", after=b, before=f)
    check(created, False, order="asc", limit=7)
    check(created[::-1], False, order="desc", limit=100)
    check([], False, order="desc", after=a)

    walked: list[str] = []
    cursor: str | None = None
    while True:
        page = list_page(PageRequest(limit=2, order="desc", after=cursor))
        walked += _ids(page)
        if not page.has_more:
            break
        cursor = page.data[-1].id
    assert walked == created[::-1]
