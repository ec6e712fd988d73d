"""Scheduled Lambda (every minute): expire, re-enqueue and release stale runs (``RunMaintenance.sweep``),
then delete expired files and vector stores (``ExpirySweep.sweep``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from assistants_core.services.expiry_sweep import ExpirySweep
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.settings import get_sweeper_settings
from maintenance.wiring import build_expiry_sweep, build_run_maintenance

logger = Logger(service="assistants-sweeper")


@lru_cache(maxsize=1)
def maintenance() -> RunMaintenance:
    return build_run_maintenance(get_sweeper_settings())


@lru_cache(maxsize=1)
def expiry_sweep() -> ExpirySweep:
    return build_expiry_sweep(get_sweeper_settings())


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]]:
    return {**maintenance().sweep().as_dict(), **expiry_sweep().sweep().as_dict()}
