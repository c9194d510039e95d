#!/usr/bin/env bash
# The whole loop on the procedural demo data set: build the CPU image, train in it, serve the model
# on port PORT (default 8080), classify a few validation images by class name, stop the server.
# Where no Docker engine answers, the same `train` and `serve` run in a local virtualenv instead:
# VENV, default .venv at the repository root, made with the pinned requirements when missing
# (building sagemaker_training needs gcc and python3-dev).
# Usage: local_test/demo.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
test_dir=$here/test_dir
export PORT=${PORT:-8080}

if docker info >/dev/null 2>&1; then
  "$here/build_image.sh" cpu
  "$here/make_test_dir.sh"
  "$here/train_local.sh"
  "$here/serve_local.sh" &
else
  echo "demo.sh: no Docker engine answers (docker info failed); running train and serve in a local virtualenv"
  venv=${VENV:-$repo/.venv}
  if [ ! -x "$venv/bin/serve" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -r "$repo/requirements.txt"
    "$venv/bin/pip" install -e "$repo"
  fi
  rm -rf "$test_dir"
  "$venv/bin/python" -m image_classifier.demo_data "$test_dir"
  SAGEMAKER_BASE_DIR=$test_dir "$venv/bin/train"
  SAGEMAKER_BASE_DIR=$test_dir SAGEMAKER_BIND_TO_PORT=$PORT "$venv/bin/serve" &
fi
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" || true' EXIT

wait_for_ping() {
  for _ in $(seq 240); do
    curl --silent --fail "http://localhost:$PORT/ping" >/dev/null && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 1
  done
  echo "demo.sh: the server did not answer /ping" >&2
  return 1
}
wait_for_ping
python3 "$here/classify.py" "$test_dir" --port "$PORT"
