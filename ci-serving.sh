#!/usr/bin/env bash
# What CI needs for tests/serving and tests/image (for the lead to fold into .ci/run).
# Run as root on the Debian bookworm CI machine, from the repository root.
set -euo pipefail

# Debian tools the tests drive for real: buildah/podman/debootstrap (image build test),
# prometheus (scrape test), wrk (bench/serving.sh), openssl (https model test).
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  buildah podman debootstrap prometheus wrk openssl util-linux curl

# Python deps (torch==2.13.0 resolves to the CPU wheel on this machine's disk with pip).
python3.11 -m venv .venv
.venv/bin/pip install -q -r requirements-test-serving.txt
# checkov pins boto3/packaging versions that clash with ours: give it its own venv.
python3.11 -m venv /opt/checkov
/opt/checkov/bin/pip install -q checkov==3.3.30
ln -sf /opt/checkov/bin/checkov /usr/local/bin/checkov

# Quick tier (no external tools, no image build):
#   CI=true .venv/bin/python -m pytest -W error -m "not slow and not tools" tests/serving tests/image
# Full tier (CI=true turns a missing tool into a failure instead of a skip):
CI=true .venv/bin/python -m pytest -W error tests/serving tests/image
