"""Assistant use cases: create, retrieve, modify, delete, list."""

from __future__ import annotations

from assistants_core.domain import ids
from assistants_core.domain.errors import InvalidRequestError
from assistants_core.domain.models import Assistant, Page
from assistants_core.ports import AssistantRepository, Clock
from assistants_core.schemas.assistants import CreateAssistantRequest, ModifyAssistantRequest
from assistants_core.schemas.tools import option_to_domain, tools_to_domain
from assistants_core.services.models import ModelCatalog
from assistants_core.services.tool_resources import (
    ToolResourceService,
    check_tool_resources,
    with_inline_store,
)
from assistants_core.services.tool_validation import ToolSupport, validate_response_format, validate_tools
from assistants_core.services.validation import (
    page_request,
    require_id,
    validate_metadata,
    validate_sampling,
    validate_stored_size,
)

# The assistant's fields a request can fill with arbitrary amounts of data.
STORED_ASSISTANT_FIELDS = (
    "model",
    "name",
    "description",
    "instructions",
    "tools",
    "tool_resources",
    "metadata",
    "response_format",
)
# Stored only in the assistant's item, as plain strings (a run copies the other fields into its events).
PLAIN_ASSISTANT_FIELDS = ("name", "description", "metadata")


class AssistantService:
    def __init__(
        self,
        assistants: AssistantRepository,
        clock: Clock,
        *,
        models: ModelCatalog | None = None,
        resources: ToolResourceService | None = None,
        support: ToolSupport | None = None,
    ) -> None:
        self._assistants = assistants
        self._clock = clock
        self._models = models or ModelCatalog(None)
        self._resources = resources
        self._support = support

    def create(self, owner: str, request: CreateAssistantRequest) -> Assistant:
        metadata = validate_metadata(request.metadata)
        validate_sampling(request.temperature, request.top_p)
        self._models.require_served(request.model)
        tool_resources = check_tool_resources(self._resources, owner, request.tool_resources)
        now = self._clock.now()
        assistant = Assistant(
            id=ids.new_id(ids.ASSISTANT, now_ms=int(now * 1000)),
            owner=owner,
            created_at=int(now),
            model=request.model,
            name=request.name,
            description=request.description,
            instructions=request.instructions,
            tools=tools_to_domain(request.tools),
            tool_resources=tool_resources,
            metadata=metadata,
            temperature=request.temperature,
            top_p=request.top_p,
            response_format=option_to_domain(request.response_format),
        )
        validate_tools(assistant.tools, support=self._support)
        validate_response_format(assistant.response_format)
        validate_stored_size(assistant, STORED_ASSISTANT_FIELDS, plain_fields=PLAIN_ASSISTANT_FIELDS)
        assistant.tool_resources = with_inline_store(
            self._resources, owner, request.tool_resources, tool_resources, for_thread=False
        )
        self._assistants.put_assistant(assistant)
        return assistant

    def retrieve(self, owner: str, assistant_id: str) -> Assistant:
        require_id(assistant_id, ids.ASSISTANT, param="assistant_id")
        return self._assistants.get_assistant(owner, assistant_id)

    def modify(self, owner: str, assistant_id: str, request: ModifyAssistantRequest) -> Assistant:
        """Change only the fields present in the request; ``null`` clears a nullable field."""
        require_id(assistant_id, ids.ASSISTANT, param="assistant_id")
        changed = request.model_fields_set
        if "model" in changed and request.model is None:
            raise InvalidRequestError(
                "Invalid 'model': expected a string, but got null instead.", param="model"
            )
        metadata = validate_metadata(request.metadata) if "metadata" in changed else None
        validate_sampling(request.temperature, request.top_p)
        if request.model is not None:
            self._models.require_served(request.model)
        tool_resources = check_tool_resources(self._resources, owner, request.tool_resources)
        assistant = self._assistants.get_assistant(owner, assistant_id)
        if request.model is not None:
            assistant.model = request.model
        if "name" in changed:
            assistant.name = request.name
        if "description" in changed:
            assistant.description = request.description
        if "instructions" in changed:
            assistant.instructions = request.instructions
        if "tools" in changed:
            assistant.tools = tools_to_domain(request.tools or [])
        if "tool_resources" in changed:
            assistant.tool_resources = tool_resources
        if metadata is not None:
            assistant.metadata = metadata
        if "temperature" in changed:
            assistant.temperature = request.temperature
        if "top_p" in changed:
            assistant.top_p = request.top_p
        if "response_format" in changed:
            assistant.response_format = option_to_domain(request.response_format)
        validate_tools(assistant.tools, support=self._support)
        validate_response_format(assistant.response_format)
        validate_stored_size(assistant, STORED_ASSISTANT_FIELDS, plain_fields=PLAIN_ASSISTANT_FIELDS)
        self._assistants.replace_assistant(assistant)
        return assistant

    def delete(self, owner: str, assistant_id: str) -> None:
        require_id(assistant_id, ids.ASSISTANT, param="assistant_id")
        self._assistants.delete_assistant(owner, assistant_id)

    def list(
        self,
        owner: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> Page[Assistant]:
        return self._assistants.list_assistants(owner, page_request(limit, order, after, before))
