#!/usr/bin/env bash
# `make deploy`: preflight, the AWS stack (SAM), the model in the Modal Volume, the worker (Modal).
# Everything is in infra/deploy.py (`--dry-run` prints the decisions and ordered steps, runs nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONPATH="functions:.${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m infra.deploy "$@"
