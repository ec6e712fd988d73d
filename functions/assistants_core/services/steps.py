"""Run step use cases: list and retrieve."""

from __future__ import annotations

from collections.abc import Sequence

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.models import Page, RunStep
from assistants_core.ports import RunRepository
from assistants_core.schemas.step_details import FILE_SEARCH_CONTENT, STEP_INCLUDES
from assistants_core.services.validation import page_request, require_id


def includes_file_search_content(include: Sequence[str]) -> bool:
    """Whether ``include[]`` asks for file_search result content; an unknown value is a 400."""
    for value in include:
        if value not in STEP_INCLUDES:
            expected = ", ".join(f"'{known}'" for known in STEP_INCLUDES)
            raise InvalidRequestError(
                f"Invalid value for 'include': expected one of {expected}, but got '{value}' instead.",
                param="include",
            )
    return FILE_SEARCH_CONTENT in include


class StepService:
    def __init__(self, runs: RunRepository) -> None:
        self._runs = runs

    def list(
        self,
        owner: str,
        thread_id: str,
        run_id: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> Page[RunStep]:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(run_id, ids.RUN, param="run_id")
        page = page_request(limit, order, after, before)
        return self._runs.list_steps(owner, thread_id, run_id, page)  # 404 for an unknown or foreign run

    def retrieve(self, owner: str, thread_id: str, run_id: str, step_id: str) -> RunStep:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(run_id, ids.RUN, param="run_id")
        require_id(step_id, ids.STEP, param="step_id")
        return self._runs.get_step(owner, thread_id, run_id, step_id)
