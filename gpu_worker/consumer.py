"""The run queue consumer: receive, claim, generate many runs concurrently on one engine, finish.

Pure Python over the ports (no Modal, no vLLM, no boto3): the local worker, the Modal GPU class and the tests
all drive this same class. Storage and queue calls are blocking (boto3), so they run on the consumer's own
thread pool (sized to its concurrency; ``wiring`` gives botocore as many connections) and never stall the
event loop that streams tokens for every other run. The parts live in their own modules:
- ``receive_loop``: long polls (also while runs are in flight), starting claimed runs, stopping;
- ``intake``: receiving, claiming a received batch concurrently, batched message deletes;
- ``supervision``: each run's lease heartbeat and ONE batched status read of all runs per interval;
- ``final_write``: the outcome's conditional transaction and its retries;
- ``reply_events``: stream events of a reply, only for runs someone streams.

Safety rests on the repository's conditional writes, not on this process staying alive:
- ``claim_run`` lets exactly one worker hold a run (a duplicate delivery finds it held or finished);
- the lease is renewed every ``heartbeat_seconds`` together with the SQS visibility, so a dead worker's run is
  re-claimed by another after the lease expires;
- ``finish_run`` writes the reply, its run step and the final status in ONE transaction that requires our
  lease and a reply id that does not exist yet, so a lost lease or a retry can never write two replies;
- the SQS message is deleted only after that final write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from assistants_core.domain.errors import AssistantsError
from assistants_core.domain.models import PageRequest, Run, RunStep, Usage
from assistants_core.ports import (
    Clock,
    MessageRepository,
    ReceivedRun,
    RunQueueConsumer,
    RunRepository,
    RunStatusReader,
)
from assistants_core.services.run_events import RunEventPublisher
from gpu_worker.consumer_config import ConsumerConfig, pool_size
from gpu_worker.engines.base import ChatMessage, Engine, SamplingOptions
from gpu_worker.file_search import (
    FileSearcher,
    SearchRenderer,
    offers_file_search,
    output_fits,
    search_calls_of,
)
from gpu_worker.file_search_turns import FileSearchTurns, search_step, unavailable_outcome
from gpu_worker.final_write import FinalWriter
from gpu_worker.intake import Intake, MessageDeleter
from gpu_worker.outcomes import (
    Generation,
    RunOutcome,
    StartedReply,
    completion_budget_spent_outcome,
    expired_outcome,
    failure_outcome,
    prompt_too_long_outcome,
)
from gpu_worker.prompt import PromptTooLongError, build_prompt, read_prompt_messages, to_chat_message
from gpu_worker.receive_loop import ReceiveLoop
from gpu_worker.reply_events import ReplyEventStream, delta_flush_seconds
from gpu_worker.supervision import LeaseKeeper, PerRunStatusReader, RunInterruptedError, StatusWatch
from gpu_worker.tool_calls import tool_call_format
from gpu_worker.tool_stream_events import ToolTurnEventStream
from gpu_worker.tool_turns import ToolTurn, function_definitions, plan_turn, reply_outcome, total_usage

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GeneratedTurn:
    """One generated turn: its outcome, what its prompt showed of earlier searches (citable results), and
    the newest user message (the query of a file_search call that gave none)."""

    outcome: RunOutcome
    renderer: SearchRenderer
    newest_user_text: str = ""


__all__ = ["ConsumerConfig", "RunConsumer", "pool_size"]


class RunConsumer(ReceiveLoop):
    def __init__(
        self,
        queue: RunQueueConsumer,
        runs: RunRepository,
        messages: MessageRepository,
        engine: Engine,
        *,
        events: RunEventPublisher,
        config: ConsumerConfig,
        clock: Clock,
        worker_id: str,
        statuses: RunStatusReader | None = None,
        file_searcher: FileSearcher | None = None,
    ) -> None:
        self._queue = queue
        self._runs = runs
        self._messages = messages
        self._engine = engine
        self._events = events
        self._config = config
        self._tool_format = tool_call_format(config.tool_call_format)
        self._clock = clock
        self.worker_id = worker_id
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._abandoned_poll: asyncio.Future[list[ReceivedRun]] | None = None
        self.finished_runs = 0
        self._deleter = MessageDeleter(
            queue, self._blocking, linger_seconds=config.delete_linger_seconds, batched=config.batched_deletes
        )
        self._intake = Intake(
            queue,
            runs,
            self._blocking,
            self._deleter,
            worker_id=worker_id,
            lease_seconds=config.lease_seconds,
            clock=clock,
            concurrent_claims=config.concurrent_claims,
        )
        self._watch = StatusWatch(
            statuses if statuses is not None and config.batched_status_reads else PerRunStatusReader(runs),
            self._blocking,
            interval_seconds=config.cancel_poll_seconds,
            worker_id=worker_id,
            clock=clock,
        )
        self._lease = LeaseKeeper(
            runs,
            queue,
            self._blocking,
            lease_seconds=config.lease_seconds,
            heartbeat_seconds=config.heartbeat_seconds,
            worker_id=worker_id,
            clock=clock,
        )
        self._final = FinalWriter(
            runs,
            self._blocking,
            self._lease,
            worker_id=worker_id,
            clock=clock,
            retry_seconds=config.busy_poll_seconds,
            max_backoff_seconds=config.max_backoff_seconds,
            give_up_seconds=config.lease_seconds,
        )
        self._searches = (
            FileSearchTurns(
                file_searcher,
                runs,
                events,
                self._blocking,
                worker_id=worker_id,
                clock=clock,
                ingestion_wait_seconds=config.file_search_ingestion_wait_seconds,
            )
            if file_searcher is not None
            else None
        )

    @property
    def status_reads(self) -> int:
        """Batched status reads made so far (one per interval while runs generate)."""
        return self._watch.reads

    # -- the receive loop -----------------------------------------------------------------------------------
    async def run_forever(self) -> None:
        """Consume until ``stop()``; then stop receiving and let in-flight runs drain."""
        await self._serve(idle_exit_seconds=None, max_seconds=None)

    async def run_until_idle(
        self, idle_exit_seconds: float = 0.0, *, max_seconds: float | None = None
    ) -> None:
        """Consume until no run is in flight and the queue stayed empty for ``idle_exit_seconds``, or until
        ``max_seconds`` passed (then stop receiving and drain, as after ``stop()``)."""
        await self._serve(idle_exit_seconds=idle_exit_seconds, max_seconds=max_seconds)

    def receive_window_seconds(self, time_limit_seconds: float, *, margin_seconds: float = 60.0) -> float:
        """How long a consumer that is killed after ``time_limit_seconds`` may receive: the drain (and a
        margin for the final writes) must fit before the kill."""
        return max(0.0, time_limit_seconds - self._config.drain_seconds - margin_seconds)

    def stop(self) -> None:
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def _serve(self, idle_exit_seconds: float | None, max_seconds: float | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if max_seconds is None else loop.time() + max_seconds
        watching = asyncio.create_task(self._watch.run_forever(), name="status-watch")
        try:
            try:
                await self._receive_loop(idle_exit_seconds, deadline)
            except asyncio.CancelledError:
                await self._abandon()
                raise
            await self._drain()
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            await self._deleter.close()
            await self._hand_back_abandoned_poll()

    async def _drain(self) -> None:
        """Graceful stop: in-flight runs get ``drain_seconds`` to finish; the rest are abandoned."""
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self._config.drain_seconds)
        await self._abandon()

    async def _abandon(self) -> None:
        """Stop every in-flight run without writing anything: its lease expires and another worker
        re-claims it (what happens anyway when the process dies)."""
        pending = list(self._in_flight)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function`` on the consumer's thread pool (the loop's default executor when turned off)."""
        if not self._config.own_thread_pool:
            return await asyncio.to_thread(function, *args, **kwargs)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                pool_size(self._config.max_concurrent_runs), thread_name_prefix=f"{self.worker_id}-io"
            )
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    # -- one run ---------------------------------------------------------------------------------------------
    async def _execute(self, delivery: ReceivedRun, run: Run) -> None:
        # The heartbeat keeps the lease (and the message hidden) until the final write is done.
        heartbeat = asyncio.create_task(self._lease.heartbeat(delivery, run))
        try:
            await self._execute_holding_lease(delivery, run, heartbeat)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _execute_holding_lease(
        self, delivery: ReceivedRun, run: Run, heartbeat: asyncio.Task[None]
    ) -> None:
        log = {"run_id": run.id, "thread_id": run.thread_id, "worker_id": self.worker_id}
        try:
            if run.expires_at is not None and self._clock.now() > run.expires_at:
                outcome: RunOutcome | None = expired_outcome()
            else:
                outcome = await self._generate_supervised(run, heartbeat)
            delete_message = True
            if outcome is not None:
                delete_message = await self._final.finish(run, outcome)
        except RunInterruptedError as interrupted:
            logger.info("run interrupted", extra={**log, "reason": interrupted.reason})
            delete_message = interrupted.delete_message
            if interrupted.outcome is not None:
                delete_message = await self._final.finish(run, interrupted.outcome)
        except AssistantsError:
            # Storage trouble: keep the message; the lease expires and the run is retried.
            logger.exception("run left for retry after a storage error", extra=log)
            return
        except Exception:
            logger.exception("run left for retry after an unexpected error", extra=log)
            return
        if delete_message:
            await self._deleter.delete(delivery.receipt_handle)
        self.finished_runs += 1

    async def _generate_supervised(self, run: Run, heartbeat: asyncio.Task[None]) -> RunOutcome | None:
        """Generate while the ``heartbeat`` keeps the lease and the status watch looks for cancellation."""
        request_ids = [f"{run.id}-{run.attempts}"]  # one per turn generated in this claim, newest last
        generation = asyncio.create_task(self._generate(request_ids, run))
        interrupted = self._watch.watch(run)
        try:
            waited: list[asyncio.Future[Any]] = [generation, heartbeat, interrupted]
            done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            if generation in done:
                return generation.result()
            generation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._engine.abort(request_ids[-1])
            for stopper in (interrupted, heartbeat):
                if stopper in done:
                    stopper.result()  # raises the RunInterruptedError that stopped the run
            raise AssertionError("a watcher ended without interrupting the run")
        finally:
            self._watch.unwatch(run)
            generation.cancel()
            await asyncio.gather(generation, return_exceptions=True)

    async def _generate(self, request_ids: list[str], run: Run) -> RunOutcome:
        """The run's turns in this claim: one, or more while turns call file_search (``file_search_turns``:
        each such turn is searched and recorded, then the next one is generated)."""
        steps = await self._blocking(self._tool_steps, run)
        store_ids: list[str] | None = None
        if offers_file_search(run):
            if self._searches is None:
                return unavailable_outcome(self._clock.now())
            store_ids = await self._searches.stores_for(run)
        while True:
            turn = await self._generate_turn(request_ids[-1], run, steps)
            if store_ids is None or self._searches is None:
                return turn.outcome
            step = search_step(turn.outcome)
            if step is None:
                return await self._searches.cited(
                    run, turn.outcome, turn.renderer, fallback=self._config.file_search_fallback_citations
                )
            written, ended = await self._searches.complete(
                run, turn.outcome, step, store_ids, turn.newest_user_text
            )
            if ended is not None:
                return ended
            steps.append(written)
            request_ids.append(f"{run.id}-{run.attempts}-{len(request_ids)}")

    async def _generate_turn(self, request_id: str, run: Run, steps: list[RunStep]) -> GeneratedTurn:
        spent = total_usage(run, Usage(0, 0))
        budget = self._max_completion_tokens(run)
        renderer = SearchRenderer()
        if budget is not None and budget <= 0:
            return GeneratedTurn(completion_budget_spent_outcome(spent), renderer)
        thread_messages = await self._blocking(
            read_prompt_messages,
            self._messages,
            run,
            self._engine.count_prompt_tokens,
            self._prompt_limit(budget),
        )
        share = self._prompt_limit(budget) // 2 // max(1, search_calls_of(steps))  # per search's results
        renderer.fits = output_fits(self._engine.count_prompt_tokens, share)
        turn = await self._blocking(
            plan_turn,
            run,
            steps,
            self._tool_format,
            render_search=renderer,
            max_search_calls=self._config.file_search_max_calls,
        )
        newest_user_text = next(
            (to_chat_message(m).content for m in reversed(thread_messages) if m.role == "user"), ""
        )
        try:
            # Tokenizing (a binary search over the history) is CPU work: off the loop that streams other runs.
            prompt = await self._blocking(
                build_prompt,
                run,
                thread_messages,
                self._engine.count_prompt_tokens,
                context_token_limit=self._prompt_limit(budget),
                tools_text=turn.tools_text,
                tail=turn.history,
            )
        except PromptTooLongError:
            return GeneratedTurn(prompt_too_long_outcome(spent), renderer)
        options = SamplingOptions(
            max_tokens=self._completion_limit(budget, prompt.prompt_tokens),
            temperature=1.0 if run.temperature is None else run.temperature,
            top_p=1.0 if run.top_p is None else run.top_p,
            constraint=turn.constraint,
        )
        outcome = await self._stream_turn(
            request_id,
            run,
            turn,
            messages=prompt.messages,
            options=options,
            prompt_tokens=prompt.prompt_tokens,
        )
        return GeneratedTurn(outcome, renderer, newest_user_text)

    async def _stream_turn(
        self,
        request_id: str,
        run: Run,
        turn: ToolTurn,
        *,
        messages: list[ChatMessage],
        options: SamplingOptions,
        prompt_tokens: int,
    ) -> RunOutcome:
        pieces: list[str] = []
        completion_tokens, finish = 0, None
        # A turn that may call functions streams its text and calls as they come (``tool_stream_events``).
        reply = (
            self._tool_turn_stream(run, turn) if turn.offers_tools else self._reply_stream(run, turn.number)
        )
        started_at = self._clock.now()  # the reply's message and step keep this created_at
        await reply.start(started_at)
        try:
            async for chunk in self._engine.generate(request_id, messages, options):
                pieces.append(chunk.text_delta)
                await reply.add(chunk.text_delta)
                prompt_tokens, completion_tokens = chunk.prompt_tokens, chunk.completion_tokens
                finish = chunk.finish_reason or finish
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("engine failed", extra={"run_id": run.id, "request_id": request_id})
            if isinstance(reply, ToolTurnEventStream):
                started = reply.started_reply()  # only text it announced (never a call's markup)
            else:
                started = StartedReply(run, started_at, turn.number, "".join(pieces))
            return failure_outcome(self._clock.now(), started)
        generation = Generation("".join(pieces), prompt_tokens, completion_tokens, finish)
        if isinstance(reply, ToolTurnEventStream):
            return await reply.finish(generation, self._clock.now())
        await reply.flush()
        return reply_outcome(run, turn.number, generation, self._clock.now(), started_at=started_at)

    def _reply_stream(self, run: Run, turn: int) -> ReplyEventStream:
        def flush_interval() -> float:
            streaming = sum(1 for watched in self._watch.watched if watched.streamed)
            return delta_flush_seconds(streaming, self._config.delta_writes_per_second)

        return ReplyEventStream(
            self._events, run, flush_interval=flush_interval, turn=turn, blocking=self._blocking
        )

    def _tool_turn_stream(self, run: Run, turn: ToolTurn) -> ToolTurnEventStream:
        def flush_interval() -> float:
            streaming = sum(1 for watched in self._watch.watched if watched.streamed)
            return delta_flush_seconds(streaming, self._config.delta_writes_per_second)

        return ToolTurnEventStream(
            self._events, run, turn, self._tool_format, now=self._clock.now, flush_interval=flush_interval
        )

    def _tool_steps(self, run: Run) -> list[RunStep]:
        """The run's steps, read only for runs with tools (they alone have tool turns)."""
        if not function_definitions(run) and not offers_file_search(run):
            return []
        return self._runs.list_steps(
            run.owner, run.thread_id, run.id, PageRequest(limit=100, order="asc")
        ).data

    def _max_completion_tokens(self, run: Run) -> int | None:
        """This turn's budget (None: no cap but the context). ``max_completion_tokens`` is per run, so
        earlier tool turns' tokens count; the configured default applies only when the run sets none."""
        if run.max_completion_tokens is None:
            return self._config.default_max_completion_tokens
        spent = run.usage.completion_tokens if run.usage is not None else 0
        return run.max_completion_tokens - spent

    def _prompt_limit(self, budget: int | None) -> int:
        """The prompt keeps room for the completion budget (at most half the context; 1 token when none)."""
        context = self._config.context_token_limit
        return max(1, context - min(budget or 1, context // 2))

    def _completion_limit(self, budget: int | None, prompt_tokens: int) -> int:
        """The budget, never more than the context has left after the prompt (all of it when no budget)."""
        left = max(1, self._config.context_token_limit - prompt_tokens)
        return left if budget is None else min(budget, left)
