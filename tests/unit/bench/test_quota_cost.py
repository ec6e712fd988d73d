"""The quota slot item's size billing in bench.run_cost."""

from __future__ import annotations

import pytest

from bench.quota_cost import slot_write_extra_wru


def test_slot_writes_bill_the_slot_items_size_as_it_fills() -> None:
    # 28 B + 100 B per slot: up to 9 slots fit in 1 KB, the 10th write is the first over it (2 WRU).
    assert slot_write_extra_wru((28, 28 + 100 * 24), 24, limit=9) == 0.0
    assert slot_write_extra_wru((28, 28 + 100 * 24), 24, limit=10) == pytest.approx(2 * 1 / 10)
    # a take and a removal per run, each averaging (0*10 + 1*10 + 2*10) / 30 extra units over 30 slots
    assert slot_write_extra_wru((0, 1024 * 3), 30, limit=30) == pytest.approx(
        2 * (10 * 0 + 10 * 1 + 10 * 2) / 30
    )
