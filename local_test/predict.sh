#!/usr/bin/env bash
# Classifies one image file with the endpoint serve_local.sh runs and prints its answer: a JSON
# array of class probabilities, or with TOP_K set, the server's top-k classes with their names.
# Usage: local_test/predict.sh IMAGE_FILE [CONTENT_TYPE]   (PORT: default 8080)
set -euo pipefail
file=$1
case $file in
  *.png) guessed=image/png ;;
  *.jpg | *.jpeg) guessed=image/jpeg ;;
  *) guessed=application/x-image ;;
esac
curl --silent --show-error --fail-with-body --data-binary "@$file" \
  -H "Content-Type: ${2:-$guessed}" ${TOP_K:+-H "X-Amzn-SageMaker-Custom-Attributes: top_k=$TOP_K"} \
  "http://localhost:${PORT:-8080}/invocations"
echo
