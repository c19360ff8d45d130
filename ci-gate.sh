#!/usr/bin/env bash
# Quality-gate tools for CI on a fresh machine (issue 6); the lead merges this into .ci/run.
# The tests also install what is missing themselves; this makes CI's installs explicit and early.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null   # promtool
fi
PY=${PY:-.venv/bin/python}
"$PY" -m pip install -q -r requirements-gate.txt
# checkov in its own virtualenv: its pins clash with the SDK's dependencies.
if [ ! -x .venv-checkov/bin/checkov ]; then
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install -q -r requirements-checkov.txt
fi
