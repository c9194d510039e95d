#!/bin/sh
# Usage: requirements.sh cpu|gpu DIR
# Prints the pinned requirements of the image for a device, from the lists in DIR:
# requirements.txt as is for cpu; for gpu, with mxnet swapped for requirements-gpu.txt.
set -eu
device=$1 dir=$2
case $device in
  cpu) cat "$dir/requirements.txt" ;;
  gpu) sed '/^mxnet==/d' "$dir/requirements.txt"; cat "$dir/requirements-gpu.txt" ;;
  *) echo "requirements.sh: device must be cpu or gpu, not '$device'" >&2; exit 2 ;;
esac
