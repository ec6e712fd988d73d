"""The turns of one claimed run: build each turn's prompt, stream it from the engine (with its stream
events), and, while turns call file_search, search, record and generate the next turn (``file_search_turns``).

``RunConsumer`` (``consumer``) holds the claim, the lease and the final write around ``RunTurns.generate``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from assistants_core.domain.models import PageRequest, Run, RunStep, Usage
from assistants_core.ports import Clock, MessageRepository, RunRepository
from assistants_core.services.run_events import RunEventPublisher
from gpu_worker.consumer_config import ConsumerConfig
from gpu_worker.engines.base import ChatMessage, Engine, SamplingOptions
from gpu_worker.file_search import SearchRenderer, offers_file_search, output_fits, search_calls_of
from gpu_worker.file_search_turns import FileSearchTurns, search_step, unavailable_outcome
from gpu_worker.outcomes import (
    Generation,
    RunOutcome,
    StartedReply,
    completion_budget_spent_outcome,
    failure_outcome,
    prompt_too_long_outcome,
)
from gpu_worker.prompt import PromptTooLongError, build_prompt, read_prompt_messages, to_chat_message
from gpu_worker.reply_events import ReplyEventStream, delta_flush_seconds
from gpu_worker.supervision import Blocking, StatusWatch
from gpu_worker.tool_calls import tool_call_format
from gpu_worker.tool_stream_events import ToolTurnEventStream
from gpu_worker.tool_turns import ToolTurn, function_definitions, plan_turn, reply_outcome, total_usage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GeneratedTurn:
    """One generated turn: its outcome, what its prompt showed of earlier searches (citable results), and
    the newest user message (the query of a file_search call that gave none)."""

    outcome: RunOutcome
    renderer: SearchRenderer
    newest_user_text: str = ""


class RunTurns:
    def __init__(
        self,
        runs: RunRepository,
        messages: MessageRepository,
        engine: Engine,
        *,
        events: RunEventPublisher,
        config: ConsumerConfig,
        clock: Clock,
        blocking: Blocking,
        watch: StatusWatch,
        searches: FileSearchTurns | None,
    ) -> None:
        self._runs = runs
        self._messages = messages
        self._engine = engine
        self._events = events
        self._config = config
        self._tool_format = tool_call_format(config.tool_call_format)
        self._clock = clock
        self._blocking = blocking
        self._watch = watch
        self._searches = searches

    async def generate(self, request_ids: list[str], run: Run) -> RunOutcome:
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

    def _flush_interval(self) -> float:
        """Seconds between a streamed run's delta writes, spread over the runs this worker streams now."""
        streaming = sum(1 for watched in self._watch.watched if watched.streamed)
        return delta_flush_seconds(streaming, self._config.delta_writes_per_second)

    def _reply_stream(self, run: Run, turn: int) -> ReplyEventStream:
        return ReplyEventStream(
            self._events, run, flush_interval=self._flush_interval, turn=turn, blocking=self._blocking
        )

    def _tool_turn_stream(self, run: Run, turn: ToolTurn) -> ToolTurnEventStream:
        return ToolTurnEventStream(
            self._events,
            run,
            turn,
            self._tool_format,
            now=self._clock.now,
            flush_interval=self._flush_interval,
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
