"""How long a consumer with a hard time limit may receive before it must stop and drain (the Modal call)."""

from __future__ import annotations

from typing import Any, cast

from gpu_worker.consumer import ConsumerConfig, RunConsumer


def consumer_with(config: ConsumerConfig) -> RunConsumer:
    unused = cast(Any, None)  # receive_window_seconds touches no port
    return RunConsumer(
        unused, unused, unused, unused, events=unused, config=config, clock=unused, worker_id="worker-a"
    )


def test_receive_window_leaves_room_for_the_drain_and_a_margin() -> None:
    consumer = consumer_with(ConsumerConfig(drain_seconds=30.0))

    assert consumer.receive_window_seconds(3600) == 3600 - 30 - 60
    assert consumer.receive_window_seconds(3600, margin_seconds=10) == 3600 - 30 - 10


def test_a_time_limit_shorter_than_the_drain_allows_no_receiving() -> None:
    consumer = consumer_with(ConsumerConfig(drain_seconds=30.0))

    assert consumer.receive_window_seconds(50) == 0.0
