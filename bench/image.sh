#!/usr/bin/env bash
# Image size benchmark: for each framework, buildah builds the naive single-stage Dockerfile
# (FastAPI + uvicorn + boto3 + the framework, `pip install --no-cache-dir`) and mlinfra's
# generated image (model baked and compiled; model read from S3 at start), all on the same
# debootstrapped Debian bookworm base, and reports the uncompressed bytes above the base and
# the ratio to the naive image. pip inside the builds reaches the package index this machine
# reaches (the base trusts the host's CA bundle).
#
#   bash bench/image.sh                                # sklearn xgboost lightgbm onnx
#   BENCH_PYTHON=.venv/bin/python FRAMEWORKS="sklearn" bash bench/image.sh
#   FRAMEWORKS="torchscript" bash bench/image.sh       # torch from PyPI: several GB, slow
#   VARIANTS="naive compiled-s3" FRAMEWORKS=lightgbm bash bench/image.sh   # only these images
#
# Needs: buildah, podman, debootstrap (Debian packages), root; BENCH_PYTHON with
# scikit-learn, skops, xgboost and lightgbm (to train the models that are baked).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${BENCH_PYTHON:-.venv/bin/python}
FRAMEWORKS=${FRAMEWORKS:-sklearn xgboost lightgbm onnx}
WORK=$(mktemp -d /var/tmp/mlinfra-image-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
"$PY" bench/image_sizes.py "$WORK" $FRAMEWORKS
