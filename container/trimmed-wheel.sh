#!/bin/sh
# Usage: trimmed-wheel.sh REQUIREMENT OUT
# Downloads REQUIREMENT's wheel (no dependencies) with pip's configuration, drops the Requires-Dist lines
# that name a distribution of left-out.txt (beside this script) from its metadata, and writes the repacked
# wheel to OUT.
# The code stays as released; only what pip checks against changes.
set -eu
requirement=$1 out=$2
work=$(mktemp -d)
python=${PYTHON:-/opt/venv/bin/python}  # the image's venv, which has pip and wheel
"$python" -m pip download --no-deps --progress-bar off -d "$work/download" "$requirement"
"$python" -m wheel unpack -d "$work/unpacked" "$work"/download/*.whl
for name in $(grep -v '^#' "$(dirname "$0")/left-out.txt"); do
  sed -i "/^Requires-Dist: $name\( \|;\|\$\)/Id" "$work"/unpacked/*/*.dist-info/METADATA
done
mkdir -p "$out"
"$python" -m wheel pack -d "$out" "$work"/unpacked/*
rm -rf "$work"
