#!/bin/sh
# Usage: requirements.sh cpu|gpu DIR
# Prints the pinned requirements of the image for a device, from the lists in DIR: requirements.txt without
# the distributions of left-out.txt (beside this script); for gpu, with mxnet swapped for requirements-gpu.txt.
set -eu
device=$1 dir=$2
left_out() {  # requirement lines on stdin, without those that name a left-out.txt distribution
  names=$(grep -v '^#' "$(dirname "$0")/left-out.txt" | tr '\n' '|' | sed 's/|$//')
  grep -i -v -E "^($names)==" || true
}
case $device in
  cpu) left_out < "$dir/requirements.txt" ;;
  gpu) sed '/^mxnet==/d' "$dir/requirements.txt" | left_out; cat "$dir/requirements-gpu.txt" ;;
  *) echo "requirements.sh: device must be cpu or gpu, not '$device'" >&2; exit 2 ;;
esac
