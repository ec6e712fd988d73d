"""Reliability fixtures: the moto-backed ``World`` of the worker scenarios (tests/worker), reused as is, and
the soak's seed. (tests/conftest.py makes moto's DynamoDB atomic and cheap to roll back for every test.)"""

from __future__ import annotations

import random

import pytest

from tests.worker.conftest import clock, world

__all__ = ["clock", "soak_seed", "world"]


@pytest.fixture
def soak_seed(request: pytest.FixtureRequest) -> int:
    """``--reliability-seed`` (tests/conftest.py) when given, else a fresh one; printed either way
    (``pytest -s`` shows it, and a failing test's captured output always does)."""
    configured: int | None = request.config.getoption("--reliability-seed")
    seed = configured if configured is not None else random.SystemRandom().randrange(2**32)
    print(f"\nsoak seed: {seed} (replay with --reliability-seed={seed})")
    return seed
