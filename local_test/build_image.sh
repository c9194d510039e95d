#!/usr/bin/env bash
# Builds image-classifier:<device> with no network inside the build: first downloads the pinned
# wheels on this machine into wheelhouse/<device>/, which the Dockerfile installs from.
# Usage: local_test/build_image.sh [cpu|gpu]
# PYTHON names a CPython 3.11 on x86_64 Linux with pip (the image's platform); default python3.
set -euo pipefail
device=${1:-cpu}
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
wheelhouse=$repo/wheelhouse/$device
downloaded=$wheelhouse/requirements.downloaded  # the list that the wheels there were downloaded for

requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
"$repo/container/requirements.sh" "$device" "$repo" > "$requirements"
cat "$repo/container/requirements-build.txt" >> "$requirements"

if ! cmp -s "$requirements" "$downloaded"; then
  "$python" -c 'import platform, sys; sys.exit(sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64")' \
    || { echo "build_image.sh: $python is not CPython 3.11 on x86_64, the image's platform; set PYTHON" >&2; exit 1; }
  mkdir -p "$wheelhouse"
  "$python" -m pip download --progress-bar off --disable-pip-version-check -d "$wheelhouse" -r "$requirements"
  cat "$requirements" > "$downloaded"
fi

docker build --network host --build-arg DEVICE="$device" -t "image-classifier:$device" "$repo"
