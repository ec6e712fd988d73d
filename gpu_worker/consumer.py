"""The run queue consumer: receive, claim, generate many runs concurrently on one engine, finish.

Pure Python over the ports (no Modal, no vLLM, no boto3): the local worker, the Modal GPU class and the tests
all drive this same class. Storage and queue calls are blocking (boto3), so they run in worker threads and
never stall the event loop that streams tokens for every other run.

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
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from assistants_core.domain.errors import (
    AssistantsError,
    ConflictError,
    InvalidRunStateError,
    RateLimitError,
    StorageError,
)
from assistants_core.domain.models import PageRequest, Run, RunStep, Usage
from assistants_core.domain.status import RunStatus
from assistants_core.ports import Clock, MessageRepository, ReceivedRun, RunQueueConsumer, RunRepository
from assistants_core.services.run_events import RunEventPublisher
from assistants_core.settings import WorkerSettings
from gpu_worker.engines.base import Engine, SamplingOptions
from gpu_worker.outcomes import (
    Generation,
    RunOutcome,
    StartedReply,
    cancelled_outcome,
    completion_budget_spent_outcome,
    expired_outcome,
    failure_outcome,
    prompt_too_long_outcome,
)
from gpu_worker.prompt import PromptTooLongError, build_prompt, read_prompt_messages
from gpu_worker.reply_events import DEFAULT_DELTA_WRITES_PER_SECOND, ReplyEventStream, delta_flush_seconds
from gpu_worker.tool_calls import tool_call_format
from gpu_worker.tool_stream_events import ToolTurnEventStream
from gpu_worker.tool_turns import ToolTurn, function_definitions, plan_turn, reply_outcome, total_usage

logger = logging.getLogger(__name__)
T = TypeVar("T")

SQS_MAX_BATCH = 10
# A final write refused for one of these may succeed when tried again (the run is still ours).
RETRYABLE_WRITE_ERRORS = (ConflictError, RateLimitError, StorageError)


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    max_concurrent_runs: int = 32
    lease_seconds: int = 60
    heartbeat_seconds: float = 10.0
    cancel_poll_seconds: float = 0.5
    # All streaming runs together write at most this many text deltas per second (``reply_events``).
    delta_writes_per_second: float = DEFAULT_DELTA_WRITES_PER_SECOND
    receive_wait_seconds: int = 20
    # Between polls of an empty queue while runs are still generating (``receive_wait_seconds`` may be 0).
    busy_poll_seconds: float = 0.5
    # After a storage error the receive loop (and a final write) waits, doubling from busy_poll_seconds.
    max_backoff_seconds: float = 10.0
    # Completion cap when the run sets none; None: only the context that is left after the prompt.
    default_max_completion_tokens: int | None = None
    context_token_limit: int = 8192
    # On shutdown, in-flight runs get this long to finish before they are left to lease expiry.
    drain_seconds: float = 30.0
    # How the served model is offered functions and emits calls (``gpu_worker.tool_calls``).
    tool_call_format: str = "hermes"

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> ConsumerConfig:
        return cls(
            max_concurrent_runs=settings.max_concurrent_runs,
            lease_seconds=settings.lease_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
            cancel_poll_seconds=settings.cancel_poll_seconds,
            delta_writes_per_second=settings.delta_writes_per_second,
            receive_wait_seconds=settings.receive_wait_seconds,
            default_max_completion_tokens=settings.default_max_completion_tokens,
            context_token_limit=settings.engine_max_model_len,
            tool_call_format=settings.tool_call_format,
        )


class _RunInterruptedError(Exception):
    """The run must stop generating: cancelled, expired, gone, or our lease was lost."""

    def __init__(self, reason: str, outcome: RunOutcome | None, *, delete_message: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome
        self.delete_message = delete_message


class _Backoff:
    """Waits after consecutive failures: ``first`` seconds, doubling up to ``cap``."""

    def __init__(self, first: float, cap: float) -> None:
        self._first = max(first, 0.01)
        self._cap = cap
        self._next = self._first

    def next(self) -> float:
        seconds = self._next
        self._next = min(self._cap, self._next * 2)
        return seconds

    def reset(self) -> None:
        self._next = self._first


class RunConsumer:
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
        self.finished_runs = 0

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
        try:
            await self._receive_loop(idle_exit_seconds, deadline)
        except asyncio.CancelledError:
            await self._abandon()
            raise
        await self._drain()

    def _receiving(self, deadline: float | None) -> bool:
        """False once ``stop()`` was called or the receive deadline passed."""
        if self._stopping.is_set():
            return False
        return deadline is None or asyncio.get_running_loop().time() < deadline

    async def _receive_loop(self, idle_exit_seconds: float | None, deadline: float | None) -> None:
        idle_since: float | None = None
        loop = asyncio.get_running_loop()
        backoff = _Backoff(self._config.busy_poll_seconds, self._config.max_backoff_seconds)
        while self._receiving(deadline):
            left = None if deadline is None else max(0.0, deadline - loop.time())
            free_slots = self._config.max_concurrent_runs - len(self._in_flight)
            if free_slots <= 0:
                await asyncio.wait(self._in_flight, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                continue
            wait_seconds = self._config.receive_wait_seconds if not self._in_flight else 0
            if left is not None:
                wait_seconds = min(wait_seconds, int(left))
            try:
                received = await self._blocking(
                    self._queue.receive_runs,
                    max_messages=min(SQS_MAX_BATCH, free_slots),
                    wait_seconds=wait_seconds,
                )
            except AssistantsError:
                # Queue trouble: in-flight runs go on generating; the loop tries again after a while.
                logger.exception("receive failed, backing off", extra={"worker_id": self.worker_id})
                await self._sleep_unless_stopped(backoff.next())
                continue
            if not await self._accept_batch(received, deadline):
                await self._sleep_unless_stopped(backoff.next())
                continue
            backoff.reset()
            if received:
                idle_since = None
                continue
            if self._in_flight:
                idle_since = None
                await asyncio.wait(
                    self._in_flight,
                    timeout=self._config.busy_poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                continue
            idle_since = loop.time() if idle_since is None else idle_since
            if idle_exit_seconds is not None and loop.time() - idle_since >= idle_exit_seconds:
                logger.info("queue idle, consumer exits", extra={"worker_id": self.worker_id})
                return
            if wait_seconds == 0:
                await asyncio.sleep(self._config.busy_poll_seconds)
        logger.info("consumer stops receiving", extra={"worker_id": self.worker_id})

    async def _accept_batch(self, received: list[ReceivedRun], deadline: float | None) -> bool:
        """Claim the received runs; False when storage failed for one of them (its message comes back when
        its visibility runs out). A batch that arrives after ``stop()`` (or the deadline) is left unclaimed
        the same way, for another consumer."""
        accepted_all = True
        for delivery in received:
            log = {"run_id": delivery.ref.run_id, "worker_id": self.worker_id}
            if not self._receiving(deadline):
                logger.info("message left unclaimed: consumer stopping", extra=log)
                continue
            try:
                await self._accept(delivery)
            except AssistantsError:
                logger.exception("claim failed, the message comes back later", extra=log)
                accepted_all = False
        return accepted_all

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

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
        return await asyncio.to_thread(function, *args, **kwargs)

    # -- one delivery ---------------------------------------------------------------------------------------
    async def _accept(self, delivery: ReceivedRun) -> None:
        ref = delivery.ref
        now = self._clock.now()
        run = await self._blocking(
            self._runs.claim_run,
            ref.thread_id,
            ref.run_id,
            worker_id=self.worker_id,
            lease_seconds=self._config.lease_seconds,
            now=now,
        )
        if run is None:
            await self._settle_unclaimable(delivery, now)
            return
        log = {"run_id": run.id, "thread_id": run.thread_id, "worker_id": self.worker_id}
        logger.info("run claimed", extra={**log, "attempt": run.attempts})
        task = asyncio.create_task(self._execute(delivery, run), name=f"run:{run.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _settle_unclaimable(self, delivery: ReceivedRun, now: float) -> None:
        """The claim failed: a finished (or deleted) run's message is dropped; a held run's message comes
        back when that holder's lease would expire, in case the holder dies."""
        ref = delivery.ref
        current = await self._blocking(self._runs.find_run, ref.thread_id, ref.run_id)
        if current is None or current.status.is_terminal or current.status == RunStatus.REQUIRES_ACTION:
            # A run waiting for tool outputs is re-enqueued by submit_tool_outputs: this message is stale.
            logger.info("dropping message of finished run", extra={"run_id": ref.run_id})
            await self._blocking(self._queue.delete_run_message, delivery.receipt_handle)
            return
        if current.lease_owner == self.worker_id and current.status == RunStatus.IN_PROGRESS:
            # A duplicate of a run this worker is generating: its own delivery covers it.
            await self._blocking(self._queue.delete_run_message, delivery.receipt_handle)
            return
        lease_left = (current.lease_expires_at or now) - now
        if current.status == RunStatus.CANCELLING and lease_left <= 0:
            # Its worker died after the cancel: nothing is left to generate; the sweeper ends the run
            # ``cancelled`` (``RunMaintenance.sweep``); deferring would push it into the dead-letter queue.
            logger.info("dropping message of a cancelled run", extra={"run_id": ref.run_id})
            await self._blocking(self._queue.delete_run_message, delivery.receipt_handle)
            return
        delay = max(1, min(int(lease_left) + 1, self._config.lease_seconds))
        logger.info(
            "run held elsewhere, message deferred",
            extra={"run_id": ref.run_id, "status": str(current.status), "defer_seconds": delay},
        )
        await self._blocking(self._queue.extend_visibility, delivery.receipt_handle, delay)

    async def _execute(self, delivery: ReceivedRun, run: Run) -> None:
        # The heartbeat keeps the lease (and the message hidden) until the final write is done.
        heartbeat = asyncio.create_task(self._heartbeat(delivery, run))
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
                delete_message = await self._finish(run, outcome)
        except _RunInterruptedError as interrupted:
            logger.info("run interrupted", extra={**log, "reason": interrupted.reason})
            delete_message = interrupted.delete_message
            if interrupted.outcome is not None:
                delete_message = await self._finish(run, interrupted.outcome)
        except AssistantsError:
            # Storage trouble: keep the message; the lease expires and the run is retried.
            logger.exception("run left for retry after a storage error", extra=log)
            return
        except Exception:
            logger.exception("run left for retry after an unexpected error", extra=log)
            return
        if delete_message:
            await self._blocking(self._queue.delete_run_message, delivery.receipt_handle)
        self.finished_runs += 1

    async def _generate_supervised(self, run: Run, heartbeat: asyncio.Task[None]) -> RunOutcome | None:
        """Generate while the ``heartbeat`` keeps the lease and a watcher looks for cancellation."""
        request_id = f"{run.id}-{run.attempts}"
        generation = asyncio.create_task(self._generate(request_id, run))
        watcher = asyncio.create_task(self._watch(run))
        watchers = [heartbeat, watcher]
        try:
            done, _ = await asyncio.wait([generation, *watchers], return_when=asyncio.FIRST_COMPLETED)
            if generation in done:
                return generation.result()
            generation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._engine.abort(request_id)
            for watcher in watchers:
                if watcher in done:
                    watcher.result()  # raises the _RunInterruptedError that stopped the run
            raise AssertionError("a watcher ended without interrupting the run")
        finally:
            for task in [generation, watcher]:
                task.cancel()
            await asyncio.gather(generation, watcher, return_exceptions=True)

    async def _generate(self, request_id: str, run: Run) -> RunOutcome:
        spent = total_usage(run, Usage(0, 0))
        budget = self._max_completion_tokens(run)
        if budget is not None and budget <= 0:
            return completion_budget_spent_outcome(spent)
        thread_messages = await self._blocking(
            read_prompt_messages,
            self._messages,
            run,
            self._engine.count_prompt_tokens,
            self._prompt_limit(budget),
        )
        turn = plan_turn(run, await self._blocking(self._tool_steps, run), self._tool_format)
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
            return prompt_too_long_outcome(spent)
        options = SamplingOptions(
            max_tokens=self._completion_limit(budget, prompt.prompt_tokens),
            temperature=1.0 if run.temperature is None else run.temperature,
            top_p=1.0 if run.top_p is None else run.top_p,
            constraint=turn.constraint,
        )
        pieces: list[str] = []
        prompt_tokens, completion_tokens, finish = prompt.prompt_tokens, 0, None
        # A turn that may call functions streams its text and calls as they come (``tool_stream_events``).
        reply = (
            self._tool_turn_stream(run, turn) if turn.offers_tools else self._reply_stream(run, turn.number)
        )
        started_at = self._clock.now()  # the reply's message and step keep this created_at
        await reply.start(started_at)
        try:
            async for chunk in self._engine.generate(request_id, prompt.messages, options):
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
            return delta_flush_seconds(len(self._in_flight), self._config.delta_writes_per_second)

        return ReplyEventStream(self._events, run, flush_interval=flush_interval, turn=turn)

    def _tool_turn_stream(self, run: Run, turn: ToolTurn) -> ToolTurnEventStream:
        def flush_interval() -> float:
            return delta_flush_seconds(len(self._in_flight), self._config.delta_writes_per_second)

        return ToolTurnEventStream(
            self._events, run, turn, self._tool_format, now=self._clock.now, flush_interval=flush_interval
        )

    def _tool_steps(self, run: Run) -> list[RunStep]:
        """The run's steps, read only for runs with function tools (they alone have tool turns)."""
        if not function_definitions(run):
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

    async def _heartbeat(self, delivery: ReceivedRun, run: Run) -> None:
        """Renew the lease and the message's visibility. A storage error is waited out: the run is given up
        only when the lease is refused, or when it ran out while storage kept failing."""
        log = {"run_id": run.id, "worker_id": self.worker_id}
        while True:
            await asyncio.sleep(self._config.heartbeat_seconds)
            try:
                renewed = await self._blocking(
                    self._runs.renew_lease,
                    run,
                    worker_id=self.worker_id,
                    lease_seconds=self._config.lease_seconds,
                    now=self._clock.now(),
                )
            except AssistantsError:
                if self._lease_passed(run):
                    raise _RunInterruptedError("lease ran out", None, delete_message=False) from None
                logger.warning("lease renewal failed, retrying", exc_info=True, extra=log)
                continue
            if not renewed:
                raise _RunInterruptedError("lease lost", None, delete_message=False)
            try:
                await self._blocking(
                    self._queue.extend_visibility, delivery.receipt_handle, self._config.lease_seconds
                )
            except AssistantsError:
                logger.warning("visibility extension failed, retrying", exc_info=True, extra=log)

    def _lease_passed(self, run: Run) -> bool:
        return run.lease_expires_at is None or self._clock.now() >= run.lease_expires_at

    async def _watch(self, run: Run) -> None:
        """Poll the stored run: cancelling -> cancelled, past expires_at -> expired, gone/taken -> stop.
        A failed read is skipped (the heartbeat decides when storage trouble costs us the run)."""
        while True:
            await asyncio.sleep(self._config.cancel_poll_seconds)
            now = self._clock.now()
            try:
                current = await self._blocking(self._runs.find_run, run.thread_id, run.id)
            except AssistantsError:
                logger.warning("cancel check failed", exc_info=True, extra={"run_id": run.id})
                continue
            if current is None or current.status.is_terminal:
                raise _RunInterruptedError("run finished elsewhere", None, delete_message=True)
            if current.lease_owner != self.worker_id:
                raise _RunInterruptedError("run claimed by another worker", None, delete_message=False)
            if current.status == RunStatus.CANCELLING:
                raise _RunInterruptedError("cancelled", cancelled_outcome(now), delete_message=True)
            if current.expires_at is not None and now > current.expires_at:
                raise _RunInterruptedError("expired", expired_outcome(), delete_message=True)

    # -- the final write ------------------------------------------------------------------------------------
    async def _finish(self, run: Run, outcome: RunOutcome) -> bool:
        """Write the outcome; True when the message may be deleted (written, or the run ended elsewhere).
        A refused write is tried again, backing off, while the stored run is still ours and our lease lasts
        (a transaction conflict, throttling or a storage error may pass), for at most ``lease_seconds``;
        a run cancelled meanwhile ends ``cancelled`` instead."""
        backoff = _Backoff(self._config.busy_poll_seconds, self._config.max_backoff_seconds)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._config.lease_seconds
        while True:
            try:
                await self._write_outcome(run, outcome)
            except InvalidRunStateError:
                return self._result_dropped(run, await self._read_assuming_unchanged(run))
            except RETRYABLE_WRITE_ERRORS:
                logger.warning("final write refused", exc_info=True, extra={"run_id": run.id})
                current = await self._read_assuming_unchanged(run)
                if current is None or current.status.is_terminal or current.lease_owner != self.worker_id:
                    return self._result_dropped(run, current)
                if self._lease_passed(run) or loop.time() > give_up_at:
                    logger.info("result dropped: the final write kept failing", extra={"run_id": run.id})
                    return False
                if current.status == RunStatus.CANCELLING and outcome.target != RunStatus.CANCELLED:
                    outcome = cancelled_outcome(self._clock.now())
                    continue
                await asyncio.sleep(backoff.next())
                continue
            logger.info(
                "run finished",
                extra={"run_id": run.id, "status": str(outcome.target), "worker_id": self.worker_id},
            )
            return True

    async def _read_assuming_unchanged(self, run: Run) -> Run | None:
        """The stored run; when storage fails too, ``run`` as we hold it (the lease deadline still bounds
        the retries)."""
        try:
            return await self._blocking(self._runs.find_run, run.thread_id, run.id)
        except AssistantsError:
            return run

    def _result_dropped(self, run: Run, current: Run | None) -> bool:
        """The run ended elsewhere (True: its message may go) or another worker holds it (False)."""
        if current is None or current.status.is_terminal:
            logger.info("result dropped: run already finished", extra={"run_id": run.id})
            return True
        logger.info("result dropped: lease lost", extra={"run_id": run.id, "holder": current.lease_owner})
        return False

    async def _write_outcome(self, run: Run, outcome: RunOutcome) -> None:
        await self._blocking(
            self._runs.finish_run,
            run,
            outcome.target,
            fields=outcome.fields,
            worker_id=self.worker_id,
            message=outcome.message,
            steps=outcome.steps,
        )
