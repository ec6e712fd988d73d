"""``POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs`` request body."""

from __future__ import annotations

from pydantic import Field

from assistants_core.schemas.common import RequestModel


class ToolOutput(RequestModel):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputsRequest(RequestModel):
    tool_outputs: list[ToolOutput] = Field(max_length=128)
    stream: bool | None = None
