"""Run use cases: create (and create thread-and-run), retrieve, list, modify (metadata), cancel."""

from __future__ import annotations

import logging
from collections.abc import Callable

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRunStateError, NotFoundError
from assistants_core.domain.models import Assistant, Message, Page, Run, Thread
from assistants_core.domain.status import RunStatus
from assistants_core.ports import (
    AssistantRepository,
    Clock,
    RunAdmission,
    RunQueue,
    RunRef,
    RunRepository,
)
from assistants_core.schemas.runs import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    RunOptions,
)
from assistants_core.schemas.threads import CreateThreadRequest
from assistants_core.schemas.tools import option_to_domain, tools_to_domain
from assistants_core.services.messages import prepare_message
from assistants_core.services.models import ModelCatalog
from assistants_core.services.thread_vector_stores import ThreadVectorStores, searched_files
from assistants_core.services.threads import prepare_thread, ready_thread_stores, thread_searched_files
from assistants_core.services.tool_resources import ToolResourceService, inline_store_of
from assistants_core.services.tool_validation import ToolSupport, validate_run_tooling
from assistants_core.services.tool_waits import cancel_waiting_run
from assistants_core.services.validation import (
    page_request,
    require_id,
    validate_metadata,
    validate_run_token_limits,
    validate_sampling,
    validate_stored_size,
)
from assistants_core.services.worker_wake import WorkerWakeService

logger = logging.getLogger(__name__)

# A cancel that loses a race with the worker (e.g. queued -> in_progress between our read and our write)
# re-reads the run and tries again this many times.
_CANCEL_ATTEMPTS = 3
# The run's fields a request (or its assistant) can fill with arbitrary amounts of data.
STORED_RUN_FIELDS = (
    "model",
    "instructions",
    "additional_instructions",
    "tools",
    "metadata",
    "response_format",
    "tool_choice",
    "truncation_strategy",
)


class RunService:
    def __init__(
        self,
        assistants: AssistantRepository,
        runs: RunRepository,
        queue: RunQueue,
        clock: Clock,
        *,
        run_expiry_seconds: int,
        max_message_chars: int,
        models: ModelCatalog | None = None,
        wake: WorkerWakeService | None = None,
        admission: RunAdmission | None = None,
        support: ToolSupport | None = None,
        resources: ToolResourceService | None = None,
        stores: ThreadVectorStores | None = None,
    ) -> None:
        self._support = support
        self._resources = resources
        self._stores = stores
        self._models = models or ModelCatalog(None)
        self._wake = wake
        self._admission = admission
        self._assistants = assistants
        self._runs = runs
        self._queue = queue
        self._clock = clock
        self._run_expiry_seconds = run_expiry_seconds
        self._max_message_chars = max_message_chars

    def create(self, owner: str, thread_id: str, request: CreateRunRequest) -> Run:
        """Store the run queued (one transaction that also locks the thread: 404 for an unknown or foreign
        thread, 400 when a run is already active), then send it to the queue."""
        require_id(thread_id, ids.THREAD, param="thread_id")
        now = self._clock.now()
        assistant = self._validated_assistant(owner, request)
        additional_messages = [
            prepare_message(
                owner,
                thread_id,
                message,
                now=now,
                max_chars=self._max_message_chars,
                param=f"additional_messages[{index}].",
                support=self._support,
            )
            for index, message in enumerate(request.additional_messages or [])
        ]
        run = self._new_run(owner, thread_id, assistant, request, now=now)
        run.additional_instructions = request.additional_instructions
        validate_stored_size(run, STORED_RUN_FIELDS)
        file_ids = searched_files(
            self._stores,
            owner,
            [
                (f"additional_messages[{index}].", message)
                for index, message in enumerate(additional_messages)
            ],
        )
        self._store_new_run(
            run,
            additional_messages,
            before_write=lambda: self._attach(owner, thread_id, file_ids),
            writes_first=bool(file_ids),
        )
        self._enqueue(run)
        self._wake_worker()
        return run

    def create_thread_and_run(self, owner: str, request: CreateThreadAndRunRequest) -> Run:
        """``POST /threads/runs``: the new thread, its messages and the run in one transaction."""
        now = self._clock.now()
        assistant = self._validated_assistant(owner, request)
        thread_request = request.thread or CreateThreadRequest()
        thread, messages = prepare_thread(
            owner,
            thread_request,
            now=now,
            max_chars=self._max_message_chars,
            param="thread.",
            tool_resources=request.tool_resources,
            support=self._support,
            resources=self._resources,
        )
        file_ids = thread_searched_files(self._stores, owner, messages, param="thread.")
        run = self._new_run(owner, thread.id, assistant, request, now=now)
        validate_stored_size(run, STORED_RUN_FIELDS)
        self._store_new_run(
            run,
            messages,
            new_thread=thread,
            before_write=lambda: ready_thread_stores(
                owner,
                thread,
                thread_request,
                file_ids,
                resources=self._resources,
                stores=self._stores,
            ),
            writes_first=bool(file_ids) or inline_store_of(thread_request.tool_resources) is not None,
        )
        self._enqueue(run)
        self._wake_worker()
        return run

    def _attach(self, owner: str, thread_id: str, file_ids: list[str]) -> None:
        """The files ``additional_messages`` attach for file_search, into the thread's vector store."""
        if file_ids and self._stores is not None:
            self._stores.attach_to_thread(owner, thread_id, file_ids, action="create runs on")

    def _store_new_run(
        self,
        run: Run,
        messages: list[Message],
        *,
        new_thread: Thread | None = None,
        before_write: Callable[[], None] | None = None,
        writes_first: bool = False,
    ) -> None:
        """Write the run, admitted under the tenant's active-run quota (the run's create transaction takes
        its slot), ``before_write`` first: the vector stores its messages' attachments need. A 429 leaves
        nothing written: when ``before_write`` ``writes_first``, the quota is checked before it."""

        def write() -> None:
            self._runs.create_run(run, messages, new_thread=new_thread)

        if self._admission is not None:
            self._admission.create_admitted(run, write, before_write=before_write, read_first=writes_first)
            return
        if before_write is not None:
            before_write()
        write()

    def retrieve(self, owner: str, thread_id: str, run_id: str) -> Run:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(run_id, ids.RUN, param="run_id")
        return self._runs.get_run(owner, thread_id, run_id)

    def list(
        self,
        owner: str,
        thread_id: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> Page[Run]:
        require_id(thread_id, ids.THREAD, param="thread_id")
        page = page_request(limit, order, after, before)
        return self._runs.list_runs(owner, thread_id, page)  # 404 for an unknown or foreign thread

    def modify(self, owner: str, thread_id: str, run_id: str, request: ModifyRunRequest) -> Run:
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(run_id, ids.RUN, param="run_id")
        metadata = validate_metadata(request.metadata)
        run = self._runs.get_run(owner, thread_id, run_id)
        run.metadata = metadata
        self._runs.replace_run_metadata(run)
        return run

    def cancel(self, owner: str, thread_id: str, run_id: str) -> Run:
        """Cancel a run.

        - ``queued`` -> ``cancelled`` at once (``cancelled_at`` set, thread lock released in the same write);
        - ``requires_action`` (no worker holds it) -> ``cancelled`` at once, its pending ``tool_calls`` step
          cancelled in the same transaction;
        - ``in_progress`` -> ``cancelling``; the worker aborts, ends it ``cancelled``;
        - ``cancelling`` is returned unchanged (cancelling twice is harmless);
        - a terminal run is rejected with HTTP 400 ``invalid_request_error``
          ``Cannot cancel run with status 'completed'.`` and nothing changes. That is the status, type and
          message OpenAI's API returns for this case.
        """
        require_id(thread_id, ids.THREAD, param="thread_id")
        require_id(run_id, ids.RUN, param="run_id")
        for attempt in range(_CANCEL_ATTEMPTS):
            run = self._runs.get_run(owner, thread_id, run_id)
            if run.status.is_terminal:
                raise InvalidRunStateError(f"Cannot cancel run with status '{run.status.value}'.")
            if run.status is RunStatus.CANCELLING:
                return run
            try:
                if run.status is RunStatus.QUEUED:
                    now = int(self._clock.now())
                    return self._runs.transition_run(run, RunStatus.CANCELLED, fields={"cancelled_at": now})
                if run.status is RunStatus.REQUIRES_ACTION:
                    return cancel_waiting_run(self._runs, run, int(self._clock.now()))
                return self._runs.transition_run(run, RunStatus.CANCELLING)
            except InvalidRunStateError:
                if attempt == _CANCEL_ATTEMPTS - 1:
                    raise
                # The stored status moved under us (claimed, finished): decide again on a fresh read.
        raise AssertionError("unreachable")  # pragma: no cover

    def _validated_assistant(self, owner: str, request: RunOptions) -> Assistant:
        validate_metadata(request.metadata)
        validate_sampling(request.temperature, request.top_p)
        validate_run_token_limits(request.max_prompt_tokens, request.max_completion_tokens)
        require_id(request.assistant_id, ids.ASSISTANT, param="assistant_id")
        try:
            return self._assistants.get_assistant(owner, request.assistant_id)
        except NotFoundError as missing:
            raise NotFoundError("assistant", request.assistant_id, param="assistant_id") from missing

    def _new_run(
        self, owner: str, thread_id: str, assistant: Assistant, request: RunOptions, *, now: float
    ) -> Run:
        """The queued run, its settings defaulting to the assistant's."""
        created_at = int(now)
        truncation = (
            request.truncation_strategy.model_dump()
            if request.truncation_strategy is not None
            else {"type": "auto", "last_messages": None}
        )
        run = Run(
            id=ids.new_id(ids.RUN, now_ms=int(now * 1000)),
            owner=owner,
            thread_id=thread_id,
            assistant_id=assistant.id,
            created_at=created_at,
            status=RunStatus.QUEUED,
            model=request.model or assistant.model,
            # OpenAI's run always carries a string: the override, else the assistant's, else "".
            instructions=(
                request.instructions if request.instructions is not None else assistant.instructions or ""
            ),
            expires_at=created_at + self._run_expiry_seconds,
            tools=tools_to_domain(request.tools) if request.tools is not None else list(assistant.tools),
            metadata=validate_metadata(request.metadata),
            temperature=request.temperature if request.temperature is not None else assistant.temperature,
            top_p=request.top_p if request.top_p is not None else assistant.top_p,
            max_prompt_tokens=request.max_prompt_tokens,
            max_completion_tokens=request.max_completion_tokens,
            truncation_strategy=truncation,
            tool_choice=option_to_domain(request.tool_choice) if request.tool_choice is not None else "auto",
            parallel_tool_calls=request.parallel_tool_calls,
            response_format=(
                option_to_domain(request.response_format)
                if request.response_format is not None
                else assistant.response_format
            ),
            # Only a streamed run has an event log (``services/evented_runs.py``); a reader that attaches
            # later marks it (``RunStreamService.stream_after``).
            stream_log_seq=0 if request.stream else None,
        )
        validate_run_tooling(run, self._support)
        self._models.require_served(run.model)
        return run

    def _enqueue(self, run: Run) -> None:
        enqueue_run(self._queue, run)

    def _wake_worker(self) -> None:
        if self._wake is not None:
            self._wake.wake_if_idle()


def enqueue_run(queue: RunQueue, run: Run) -> None:
    """Send a stored, queued run to the queue. A failed send is logged, not raised: the run stays queued and
    the sweeper re-enqueues runs whose message was lost, so no data is ever deleted here."""
    try:
        queue.enqueue_run(RunRef(thread_id=run.thread_id, run_id=run.id))
    except Exception:  # any failure of the queue; the sweeper recovers the run
        logger.exception("enqueue failed; the sweeper will re-enqueue run %s", run.id)
