#!/usr/bin/env bash
# The test command: a virtualenv in .venv from the pinned requirements, then pytest (arguments pass through).
# Needs Python 3.11 with venv, gcc with the Python headers (sagemaker-training builds a C extension) and nginx
# (`serve` runs it in front of gunicorn):
#   apt-get install python3-venv python3-dev gcc nginx
# nginx, when missing, is installed here with apt-get as root (a fresh CI host), or named with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! PATH=$PATH:/usr/sbin command -v nginx >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx
  else
    echo "tests/run.sh: nginx is not installed (serve and its tests run it); sudo apt-get install nginx" >&2
    exit 1
  fi
fi
venv=${VENV_DIR:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# Ours last: sagemaker-training installs a `train` script of its own, which ours replaces.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
"$venv/bin/python" -m pip check
exec "$venv/bin/python" -m pytest "$@"
