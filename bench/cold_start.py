"""Cold start of the Lambda handlers: import time of each handler module in fresh interpreters, and the API
handler's first invocation (its app, services and boto3 clients are built lazily on the first request).

    PYTHONPATH=functions:. .venv/bin/python bench/cold_start.py [--repeat 5]

1. ``python -c pass`` (the interpreter alone: the baseline) and ``python -X importtime -c "import <module>"``
   for ``api.handler``, ``sweeper.handler`` and ``dlq.handler``: wall time of the whole process and the
   module's cumulative import time as ``-X importtime`` reports it; min of ``--repeat`` runs each.
2. ``bench/first_invocation_probe.py`` in a fresh interpreter against the local stack's moto: import
   ``api.handler``, then two ``GET /v1/assistants?limit=1`` invocations with a synthetic API Gateway HTTP API
   event through Mangum (the first builds the app and the clients); min of ``--repeat`` runs.
Interpreter start-up on Lambda itself is not included (the runtime has started before the import).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from bench.report import format_table, ratio

HANDLER_MODULES = ("api.handler", "sweeper.handler", "dlq.handler")
PROBE_MODULE = "bench.first_invocation_probe"
IMPORTTIME_LINE = re.compile(r"^import time:\s+\d+\s+\|\s+(\d+)\s+\|\s+(\S+)\s*$")


def cumulative_import_seconds(importtime_output: str, module: str) -> float:
    """The module's cumulative import time from ``python -X importtime`` output (stderr)."""
    for line in importtime_output.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match and match.group(2) == module:
            return int(match.group(1)) / 1_000_000
    raise ValueError(f"{module} not in the -X importtime output")


def _timed_run(arguments: Sequence[str], environment: Mapping[str, str]) -> tuple[float, str, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *arguments], env=dict(environment), capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, done.stdout, done.stderr


def import_times(environment: Mapping[str, str], repeat: int) -> list[list[object]]:
    baseline = min(_timed_run(["-c", "pass"], environment)[0] for _ in range(repeat))
    rows: list[list[object]] = [["python -c pass (baseline)", baseline * 1000, 1.0, ""]]
    for module in HANDLER_MODULES:
        runs = [
            _timed_run(["-X", "importtime", "-c", f"import {module}"], environment) for _ in range(repeat)
        ]
        wall = min(seconds for seconds, _, _ in runs)
        cumulative = min(cumulative_import_seconds(stderr, module) for _, _, stderr in runs)
        rows.append([f"import {module}", wall * 1000, ratio(wall, baseline), cumulative * 1000])
    return rows


def first_invocation(repeat: int) -> list[list[object]]:
    from bench.local import running_api_stack
    from infra import local_env

    with running_api_stack() as stack:
        environment = local_env.child_process_environment(
            local_env.api_environment(stack.resources, stack.api_key)
        )
        probes = []
        for _ in range(repeat):
            _, stdout, _ = _timed_run(["-m", PROBE_MODULE, "--key", stack.api_key], environment)
            line = next(line for line in stdout.splitlines() if line.startswith("PROBE "))
            probes.append(json.loads(line.removeprefix("PROBE ")))
    if any(probe["status"] != [200, 200] for probe in probes):
        raise RuntimeError(f"the handler did not answer 200: {[probe['status'] for probe in probes]}")
    second = min(probe["second"] for probe in probes)
    rows: list[list[object]] = []
    for label, key in (("import api.handler", "import"), ("first invocation", "first"), ("second", "second")):
        best = min(probe[key] for probe in probes)
        rows.append([label, best * 1000, ratio(best, second)])
    total = min(probe["import"] + probe["first"] for probe in probes)
    rows.append(["import + first invocation (cold start)", total * 1000, ratio(total, second)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="fresh interpreters per measurement (default 5)"
    )
    repeat = parser.parse_args().repeat
    from infra import local_env

    environment = local_env.child_process_environment({})
    imports = import_times(environment, repeat)
    invocation = first_invocation(repeat)
    print(f"Lambda handler import time, fresh interpreters, min of {repeat}")
    print(format_table(["command", "wall ms", "ratio to baseline", "-X importtime cumulative ms"], imports))
    print()
    print(f"API handler cold start through Mangum (synthetic API Gateway event, moto), min of {repeat}")
    print(format_table(["step", "ms", "ratio to a warm invocation"], invocation))


if __name__ == "__main__":
    main()
