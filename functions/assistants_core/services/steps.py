"""Run step use cases: list and retrieve."""

from __future__ import annotations

from assistants_core.domain import ids
from assistants_core.domain.models import Page, RunStep
from assistants_core.ports import RunRepository
from assistants_core.services.validation import page_request, require_id


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
