"""DynamoDB repositories over the single table (see template.yaml, resource ``Table``)."""

from assistants_core.adapters.dynamodb.assistants import DynamoAssistantRepository
from assistants_core.adapters.dynamodb.messages import DynamoMessageRepository
from assistants_core.adapters.dynamodb.quotas import DynamoTenantQuotaStore
from assistants_core.adapters.dynamodb.run_events import DynamoRunEventLog
from assistants_core.adapters.dynamodb.run_slots import DynamoRunSlotStore
from assistants_core.adapters.dynamodb.runs import DynamoRunRepository
from assistants_core.adapters.dynamodb.table import DynamoTable
from assistants_core.adapters.dynamodb.threads import DynamoThreadRepository

__all__ = [
    "DynamoAssistantRepository",
    "DynamoMessageRepository",
    "DynamoRunEventLog",
    "DynamoRunRepository",
    "DynamoRunSlotStore",
    "DynamoTable",
    "DynamoTenantQuotaStore",
    "DynamoThreadRepository",
]
