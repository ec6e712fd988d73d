"""bench.results: one report of a `make bench` run, each bench's output, time and status in it."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from bench import results


def test_the_report_holds_each_bench_its_status_and_the_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(results, "REPORT", tmp_path / "RESULTS.md")
    assert results.main(["start"]) == 0
    assert results.main(["run", "platform"]) == 0  # python -m platform prints this machine's platform
    assert results.main(["run", "bench.no_such_bench"]) != 0
    assert results.main(["finish"]) == 0

    report = (tmp_path / "RESULTS.md").read_text()
    assert report.startswith("# Benchmark results (`make bench`)\n")
    assert "- commit " in report and "load average at the start" in report
    assert "## `python -m platform` (" in report and platform.platform() in report
    assert "## `python -m bench.no_such_bench` (FAILED with exit status 1" in report
    assert "`make bench` total wall time: " in report and "unknown" not in report.split("---")[-1]
    assert platform.platform() in capsys.readouterr().out  # also shown as it runs
