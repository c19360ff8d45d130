#!/usr/bin/env bash
# Plan time for 1/10/50/100 generated services vs the raw-Pulumi-mocks floor (same run, same machine).
# Usage: bench/plan.sh [sizes...]   (default: 1 10 50 100)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ "$#" -gt 0 ]; then exec "$PY" bench/plan_bench.py --sizes "$@"; fi
exec "$PY" bench/plan_bench.py
