#!/usr/bin/env bash
# Trains in the image on local_test/test_dir/ (made by make_test_dir.sh) as SageMaker does on /opt/ml:
# the model lands in test_dir/model/, a failure's reason in test_dir/output/failure.
# Runs as the calling user, so that the files it writes stay yours.
# Usage: local_test/train_local.sh [IMAGE]   (default image-classifier:cpu)
set -euo pipefail
image=${1:-image-classifier:cpu}
test_dir=$(cd "$(dirname "$0")" && pwd)/test_dir
rm -rf "$test_dir/model" "$test_dir/output"
mkdir -p "$test_dir/model" "$test_dir/output"
exec docker run --rm --network host --user "$(id -u):$(id -g)" -v "$test_dir:/opt/ml" "$image" train
