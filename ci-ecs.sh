#!/usr/bin/env bash
# CI steps the ECS tests need on a fresh machine (merge into .ci/run before `make test`, or
# simply add `-r requirements-ecs.txt` to requirements-dev.txt, which makes this file moot).
# No Debian packages: moto_server comes from PyPI and runs on 127.0.0.1 inside the tests.
# With CI=true a missing moto makes tests/ecs/test_ecs_moto.py fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")"
make .venv/.installed
.venv/bin/pip install --quiet -r requirements-ecs.txt
