"""The sweeper of the local stack: the scheduled Lambda's ``RunMaintenance.sweep``, composed like
``sweeper.handler`` but from the local stack's resources instead of environment variables, so it can run
on a timer inside the local stack's process."""

from __future__ import annotations

import logging
from collections.abc import Callable

from assistants_core.adapters.aws import make_aws_clients
from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoRunRepository, DynamoTable
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.services.clock import SystemClock
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.maintenance import RunMaintenance, SweepReport
from assistants_core.settings import SweeperSettings
from infra import local_env
from infra.local_env import LocalResources

log = logging.getLogger("infra.local_sweeper")


def build_local_sweep(resources: LocalResources) -> Callable[[], SweepReport]:
    """A zero-argument sweep over the local resources; logs what it changed."""
    settings = SweeperSettings.model_validate(
        {
            "table_name": resources.table_name,
            "bucket_name": resources.bucket_name,
            "run_queue_url": resources.run_queue_url,
            **local_env.aws_settings_values(resources.endpoint_url),
        }
    )
    clients = make_aws_clients(settings)
    table = DynamoTable(clients.dynamodb, settings.table_name, S3BodyStore(clients.s3, settings.bucket_name))
    maintenance = RunMaintenance(
        with_run_events(DynamoRunRepository(table), DynamoRunEventLog(table)),
        SqsRunQueue(clients.sqs, settings.run_queue_url),
        SystemClock(),
        requeue_after_seconds=settings.requeue_after_seconds,
    )

    def sweep() -> SweepReport:
        report = maintenance.sweep()
        changed = {name: ids for name, ids in report.as_dict().items() if ids}
        if changed:
            log.info("sweeper: %s", changed)
        return report

    return sweep
