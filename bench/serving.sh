#!/usr/bin/env bash
# Benchmark: mlinfra's runtime vs. the hand-written FastAPI + uvicorn baseline, same model,
# same machine, same run. wrk on loopback; each server pinned to core 1, wrk to core 0.
#
#   bash bench/serving.sh            # creates bench/.venv (runtime + scikit-learn only,
#                                    # as in a generated sklearn image) on first use
#   BENCH_PYTHON=/path/python DURATION=20 bash bench/serving.sh
#
# Needs: wrk (Debian `wrk`), taskset (util-linux), curl, python3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
WORK=$(mktemp -d /tmp/mlinfra-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

for tool in wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk util-linux curl)" >&2; exit 2; }
done
if [[ -z "${BENCH_PYTHON:-}" ]]; then
  if [[ ! -x bench/.venv/bin/python ]]; then
    python3.11 -m venv bench/.venv
    bench/.venv/bin/pip install -q -r requirements-serving.txt \
      scikit-learn==1.9.1 skops==0.16.0 fastapi==0.165.0 uvicorn==0.54.0
  fi
  BENCH_PYTHON=$ROOT/bench/.venv/bin/python
fi
PY=$BENCH_PYTHON
BODY='{"features": [0.49, -0.14, 0.65, 1.52, -0.23, -0.23, 1.58, 0.77, -0.47, 0.54, -0.46, -0.47, 0.24, -1.91, -1.72, -0.56, -1.01, 0.31, -0.91, -1.41]}'

"$PY" bench/make_model.py "$WORK/model.skops"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

declare -A R
measure() {  # name port pid
  local name=$1 port=$2 pid=$3 url="http://127.0.0.1:$2/predict"
  local got; got=$(curl -sf -XPOST -H 'content-type: application/json' -d "$BODY" "$url")
  echo "$name sample response: $got"
  taskset -c 0 wrk -t1 -c32 -d2s -s bench/predict.lua "$url" >/dev/null  # warm-up
  for c in 1 32; do
    local line; line=$(taskset -c 0 wrk -t1 -c"$c" -d"${DURATION}s" -s bench/predict.lua "$url" | grep MLINFRA_RESULT)
    echo "$name c=$c $line"
    R[$name,$c,rps]=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
    R[$name,$c,p50]=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
    R[$name,$c,p99]=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
    R[$name,$c,err]=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
  done
  R[$name,rss]=$(rss_mb "$pid")
}

# mlinfra
P1=$(free_port)
read -r PID1 COLD1 < <(PYTHONPATH=$ROOT "$PY" bench/start_server.py 1 "http://127.0.0.1:$P1/ready" "$WORK/mlinfra.log" -- \
  "$PY" -m mlinfra.serving --model-uri "$WORK/model.skops" --port "$P1" --host 127.0.0.1)
PIDS+=("$PID1"); R[mlinfra,cold]=$COLD1
measure mlinfra "$P1" "$PID1"
kill -TERM "$PID1"

# baseline: FastAPI + uvicorn, one worker (its readiness: /health answers once the app
# module, and so the model, has loaded)
P2=$(free_port)
read -r PID2 COLD2 < <(cd bench && BASELINE_MODEL=$WORK/model.skops "$PY" start_server.py 1 "http://127.0.0.1:$P2/health" "$WORK/baseline.log" -- \
  "$PY" -m uvicorn baseline_app:app --host 127.0.0.1 --port "$P2" --workers 1 --log-level warning)
PIDS+=("$PID2"); R[baseline,cold]=$COLD2
measure baseline "$P2" "$PID2"
kill -TERM "$PID2"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo; echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg) (other processes on this machine skew both columns)"
echo "| metric | mlinfra | baseline (FastAPI+uvicorn) | ratio | goal |"
echo "|---|---|---|---|---|"
echo "| req/s, 1 conn | ${R[mlinfra,1,rps]} | ${R[baseline,1,rps]} | $(ratio "${R[mlinfra,1,rps]}" "${R[baseline,1,rps]}")x | >= 2x |"
echo "| p50 / p99 ms, 1 conn | ${R[mlinfra,1,p50]} / ${R[mlinfra,1,p99]} | ${R[baseline,1,p50]} / ${R[baseline,1,p99]} | | |"
echo "| req/s, 32 conns | ${R[mlinfra,32,rps]} | ${R[baseline,32,rps]} | $(ratio "${R[mlinfra,32,rps]}" "${R[baseline,32,rps]}")x | >= 6x |"
echo "| p50 / p99 ms, 32 conns | ${R[mlinfra,32,p50]} / ${R[mlinfra,32,p99]} | ${R[baseline,32,p50]} / ${R[baseline,32,p99]} | | p99 < 25 ms |"
echo "| errors (1 / 32 conns) | ${R[mlinfra,1,err]} / ${R[mlinfra,32,err]} | ${R[baseline,1,err]} / ${R[baseline,32,err]} | | 0 |"
echo "| cold start to ready, s | ${R[mlinfra,cold]} | ${R[baseline,cold]} | | < 1 s |"
echo "| RSS after load, MB | ${R[mlinfra,rss]} | ${R[baseline,rss]} | | < 150 MB |"
