"""One report of a ``make bench`` run: ``bench/RESULTS.md``, from which the README's measurement tables are
copied. Each bench still prints to the terminal; this also writes its output, command and wall time there.

    python -m bench.results start             # a new report: commit, date, machine, load
    python -m bench.results run MODULE [ARG...]   # python -m MODULE ARG..., its output appended
    python -m bench.results finish            # total wall time and load at the end

``run`` streams the bench's standard output as it comes (its log on standard error goes to the terminal only)
and exits with the bench's status (``make`` stops at a failure; the report then says which bench failed).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORT = REPO_ROOT / "bench" / "RESULTS.md"
_STARTED = "<!-- started: "


def _git(*arguments: str) -> str:
    done = subprocess.run(["git", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def header(now: float) -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " (with uncommitted changes)" if _git("status", "--porcelain", "--untracked-files=no") else ""
    date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# Benchmark results (`make bench`)",
            "",
            f"- commit {commit}{dirty}, {date}",
            f"- machine: {os.cpu_count()} CPUs ({_cpu_model()}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average at the start (1/5/15 min): {_load()}",
            "- every bench runs against the local stack (moto stands in for AWS on the same machine): "
            "ratios, counts and side-by-side comparisons carry over, absolute latencies are this machine's",
            f"{_STARTED}{now} -->",
            "",
        ]
    )


def start() -> None:
    REPORT.write_text(header(time.time()))


def run(module: str, arguments: Sequence[str]) -> int:
    """Run one bench, echoing its output, and append the output to the report."""
    command = [sys.executable, "-m", module, *arguments]
    started = time.perf_counter()
    output: list[str] = []
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            output.append(line)
        status = process.wait()
    seconds = time.perf_counter() - started
    shown = " ".join(["python -m", module, *arguments])
    outcome = f"{seconds:.0f} s" if status == 0 else f"FAILED with exit status {status} after {seconds:.0f} s"
    with REPORT.open("a") as report:
        report.write(f"\n## `{shown}` ({outcome})\n\n{''.join(output).rstrip()}\n")
    return status


def finish() -> None:
    text = REPORT.read_text() if REPORT.exists() else ""
    started = next(
        (float(line[len(_STARTED) :].split()[0]) for line in text.splitlines() if line.startswith(_STARTED)),
        None,
    )
    total = f"{(time.time() - started) / 60:.1f} min" if started is not None else "unknown (no start line)"
    with REPORT.open("a") as report:
        report.write(f"\n---\n`make bench` total wall time: {total}; load average at the end: {_load()}\n")
    print(f"wrote {REPORT} (total {total})")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["start"]:
        start()
        return 0
    if arguments[:1] == ["finish"]:
        finish()
        return 0
    if arguments[:1] == ["run"] and len(arguments) >= 2:
        return run(arguments[1], arguments[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
