"""Pure sizing helpers of bench.run_cost (quota slot item billing) and bench.stream_memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.stream_memory import Level, recommended_memory_mb, sample


def test_stream_memory_is_the_larger_of_memory_and_cpu_needs() -> None:
    by_memory = Level(streams=1, cpu_ms_per_run=100, stream_seconds=5, cpu_busy=0.02, peak_rss_mb=274)
    assert recommended_memory_mb(by_memory) == (384, 375, 142)
    by_cpu = Level(streams=1, cpu_ms_per_run=100, stream_seconds=1, cpu_busy=0.1, peak_rss_mb=100)
    assert recommended_memory_mb(by_cpu) == (768, 157, 708)
    tiny = Level(streams=1, cpu_ms_per_run=1, stream_seconds=1, cpu_busy=0.0, peak_rss_mb=10)
    assert recommended_memory_mb(tiny)[0] == 128  # Lambda's minimum


def test_a_zombie_child_adds_nothing_to_a_process_sample() -> None:
    """In the full suite the pytest process may have exited, not yet reaped children (no VmRSS)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while Path(f"/proc/{child.pid}/status").read_text().find("State:\tZ") < 0:
        time.sleep(0.01)  # exited, not reaped: a zombie
    try:
        assert sample(os.getpid()).rss_mb > 0
    finally:
        child.wait()


def test_process_sample_reads_this_process() -> None:
    first = sample(os.getpid())
    sum(range(2_000_000))  # some CPU
    second = sample(os.getpid())
    assert second.cpu_seconds >= first.cpu_seconds
    assert 0 < first.rss_mb <= first.peak_rss_mb
