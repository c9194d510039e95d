#!/usr/bin/env bash
# The test suite inside image-classifier:cpu, with the image's own Python (Debian's 3.11.2) and libraries.
# Builds the CPU image (local_test/build_image.sh), downloads the test-only wheels on the host into
# wheelhouse/test/, builds image-classifier:cpu-test from tests/image/Dockerfile and runs pytest in it;
# arguments pass through to pytest (without paths: pyproject.toml's testpaths, the unit and integration tests).
# Usage: tests/image/run.sh [PYTEST ARGS...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
wheelhouse=$repo/wheelhouse/test
downloaded=$wheelhouse/requirements.downloaded

"$repo/local_test/build_image.sh" cpu
# Only the lines requirements-dev.txt adds: the runtime pins are in the image already.
extras=$(grep -v '^-r' "$repo/requirements-dev.txt")
if [ "$extras" != "$(cat "$downloaded" 2>/dev/null)" ]; then
  mkdir -p "$wheelhouse"
  "$python" -m pip download --progress-bar off --disable-pip-version-check --no-deps -d "$wheelhouse" \
    -r <(printf '%s\n' "$extras")
  printf '%s\n' "$extras" > "$downloaded"
fi
docker build --network host -f "$repo/tests/image/Dockerfile" -t image-classifier:cpu-test "$repo"
exec docker run --rm --network host image-classifier:cpu-test python -m pytest -p no:cacheprovider "$@"
