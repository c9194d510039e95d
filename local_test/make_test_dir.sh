#!/usr/bin/env bash
# Fills local_test/test_dir/, a stand-in for /opt/ml, with the procedural demo data set: RecordIO
# channels in input/data/{train,validation}/ and input/config/{hyperparameters,inputdataconfig,
# resourceconfig}.json. Options go to `python -m image_classifier.demo_data` (see its --help),
# e.g. --num-train 800 --set epochs=10.
# Usage: local_test/make_test_dir.sh [OPTIONS]   (IMAGE: the image to run, default image-classifier:cpu)
set -euo pipefail
image=${IMAGE:-image-classifier:cpu}
test_dir=$(cd "$(dirname "$0")" && pwd)/test_dir
rm -rf "$test_dir"
mkdir -p "$test_dir"
exec docker run --rm --network host --user "$(id -u):$(id -g)" -v "$test_dir:/opt/ml" "$image" \
  python -m image_classifier.demo_data /opt/ml "$@"
