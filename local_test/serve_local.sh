#!/usr/bin/env bash
# Serves the model in local_test/test_dir/model/ from the image, as a SageMaker endpoint does, on
# port PORT (default 8080) of this machine, until Ctrl-C.
# Usage: local_test/serve_local.sh [IMAGE]   (default image-classifier:cpu)
set -euo pipefail
image=${1:-image-classifier:cpu}
test_dir=$(cd "$(dirname "$0")" && pwd)/test_dir
exec docker run --rm --network host --user "$(id -u):$(id -g)" -v "$test_dir:/opt/ml" \
  -e SAGEMAKER_BIND_TO_PORT="${PORT:-8080}" "$image" serve
