"""How many GPU consumers to start for the current queue depth (pure; the Modal schedule calls it)."""

from __future__ import annotations

import math


def consumers_needed(depth: int, running: int, per_consumer: int, *, max_consumers: int = 10) -> int:
    """Consumers to spawn now: enough for ``depth`` waiting runs at ``per_consumer`` runs each, counting
    the ``running`` ones, never more than ``max_consumers`` in total. Never negative: a surplus consumer
    drains and exits on its own when the queue stays idle."""
    if per_consumer <= 0:
        raise ValueError("per_consumer must be positive")
    wanted = min(max_consumers, math.ceil(max(depth, 0) / per_consumer))
    return max(0, wanted - max(running, 0))
