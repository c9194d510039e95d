#!/usr/bin/env bash
# The test command: a virtualenv in .venv from the pinned requirements, then pytest (arguments pass through).
# Needs Python 3.11 with venv, and gcc with the Python headers (sagemaker-training builds a C extension):
#   apt-get install python3-venv python3-dev gcc
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV_DIR:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# Ours last: sagemaker-training installs a `train` script of its own, which ours replaces.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
"$venv/bin/python" -m pip check
exec "$venv/bin/python" -m pytest "$@"
