"""The sweeper of the local stack: the scheduled Lambda's ``RunMaintenance.sweep`` and
``ExpirySweep.sweep``, composed like ``sweeper.handler`` but from the local stack's resources instead of
environment variables, so it can run on a timer inside the local stack's process."""

from __future__ import annotations

import logging
from collections.abc import Callable

from assistants_core.services.maintenance import SweepReport
from assistants_core.settings import SweeperSettings
from infra import local_env
from infra.local_env import LocalResources
from maintenance.wiring import build_expiry_sweep, build_run_maintenance

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
    maintenance = build_run_maintenance(settings)
    expiry = build_expiry_sweep(settings)

    def sweep() -> SweepReport:
        report = maintenance.sweep()
        deleted = expiry.sweep()
        changed = {name: ids for name, ids in {**report.as_dict(), **deleted.as_dict()}.items() if ids}
        if changed:
            log.info("sweeper: %s", changed)
        return report

    return sweep
