#!/usr/bin/env bash
# Benchmark: mlinfra's runtime vs. the hand-written FastAPI + uvicorn baseline, same model,
# same machine, same run, for each model family. wrk on loopback; each server pinned to
# core 1, wrk to core 0; one 20-feature row per request (bench/predict.lua).
#
# For each family the model is trained, compiled as the image build does
# (python -m mlinfra.serving.compiled; the runtime then loads plain numpy arrays), served by
# mlinfra, then by the baseline (which loads it with its framework).
#
#   bash bench/serving.sh            # creates bench/.venv on first use
#   BENCH_PYTHON=/path/python DURATION=20 FAMILIES="rf xgboost" bash bench/serving.sh
#   COMPILE=0 bash bench/serving.sh  # mlinfra on the framework path (no compiled sidecar)
#
# Needs: wrk (Debian `wrk`), taskset (util-linux), curl, python3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
FAMILIES=${FAMILIES:-hgb rf logreg xgboost lightgbm}
COMPILE=${COMPILE:-1}
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
      scikit-learn==1.9.1 skops==0.16.0 xgboost==3.2.0 lightgbm==4.7.0 \
      fastapi==0.165.0 uvicorn==0.54.0
  fi
  BENCH_PYTHON=$ROOT/bench/.venv/bin/python
fi
PY=$(realpath -s "$BENCH_PYTHON")  # absolute: the baseline starts from bench/
BODY='{"features": [0.49, -0.14, 0.65, 1.52, -0.23, -0.23, 1.58, 0.77, -0.47, 0.54, -0.46, -0.47, 0.24, -1.91, -1.72, -0.56, -1.01, 0.31, -0.91, -1.41]}'
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

declare -A R
load() {  # key url script: wrk at 1 and 32 connections into R[key,c,*]
  local c line
  for c in 1 32; do
    line=$(taskset -c 0 wrk -t1 -c"$c" -d"${DURATION}s" -s "$3" "$2" | grep MLINFRA_RESULT)
    echo "$1 c=$c $line"
    R[$1,$c,rps]=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
    R[$1,$c,p50]=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
    R[$1,$c,p99]=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
    R[$1,$c,err]=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
  done
}
start_mlinfra() {  # port logfile model: prints "pid seconds-to-ready"
  PYTHONPATH=$ROOT "$PY" bench/start_server.py 1 "http://127.0.0.1:$1/ready" "$2" -- \
    "$PY" -m mlinfra.serving --model-uri "$3" --port "$1" --host 127.0.0.1
}
measure() {  # key port pid
  local key=$1 port=$2 pid=$3 url="http://127.0.0.1:$2/predict"
  local got; got=$(curl -sf -XPOST -H 'content-type: application/json' -d "$BODY" "$url")
  echo "$key sample response: $got"
  R[$key,answer]=$got
  taskset -c 0 wrk -t1 -c32 -d2s -s bench/predict.lua "$url" >/dev/null  # warm-up
  load "$key" "$url" bench/predict.lua
  R[$key,rss]=$(rss_mb "$pid")
}

for fam in $FAMILIES; do
  echo "== $fam (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  MODEL=$("$PY" bench/make_model.py "$fam" "$WORK")
  FIRST_MODEL=${FIRST_MODEL:-$MODEL}  # the floor server loads it (its /health never touches it)
  if [[ $COMPILE == 1 ]]; then
    PYTHONPATH=$ROOT "$PY" -m mlinfra.serving.compiled "$MODEL" || echo "$fam: not compiled (exit $?)"
  fi
  P1=$(free_port)
  read -r PID1 COLD1 < <(start_mlinfra "$P1" "$WORK/mlinfra-$fam.log" "$MODEL")
  PIDS+=("$PID1"); R[$fam/mlinfra,cold]=$COLD1
  measure "$fam/mlinfra" "$P1" "$PID1"
  kill -TERM "$PID1"
  # baseline: FastAPI + uvicorn, one worker (its readiness: /health answers once the app
  # module, and so the model, has loaded)
  P2=$(free_port)
  read -r PID2 COLD2 < <(cd bench && BASELINE_MODEL=$MODEL "$PY" start_server.py 1 "http://127.0.0.1:$P2/health" "$WORK/baseline-$fam.log" -- \
    "$PY" -m uvicorn baseline_app:app --host 127.0.0.1 --port "$P2" --workers 1 --log-level warning)
  PIDS+=("$PID2"); R[$fam/baseline,cold]=$COLD2
  measure "$fam/baseline" "$P2" "$PID2"
  kill -TERM "$PID2"
done

# The floor: what the HTTP round trip alone allows on this machine, measured in the same run.
# mlinfra's own GET /health (no body, no JSON, no model) bounds every /predict of this runtime;
# nginx answering a fixed body (if installed) bounds any server on this loopback and core.
FLOOR=${FLOOR:-1}
FLOORS=()
if [[ $FLOOR == 1 ]]; then
  echo "== floor (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  P1=$(free_port)
  read -r PID1 _ < <(start_mlinfra "$P1" "$WORK/mlinfra-floor.log" "$FIRST_MODEL")
  PIDS+=("$PID1")
  load "mlinfra GET /health" "http://127.0.0.1:$P1/health" bench/floor.lua
  kill -TERM "$PID1"
  FLOORS+=("mlinfra GET /health")
  if command -v nginx >/dev/null; then
    P3=$(free_port)
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/nginx/pid; error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$P3; location / { return 200 '{"predictions":[1]}'; } } }
CONF
    taskset -c 1 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
    PIDS+=("$!")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P3/" >/dev/null && break; sleep 0.05; done
    load "nginx, fixed body" "http://127.0.0.1:$P3/predict" bench/floor.lua
    kill -TERM "${PIDS[-1]}"
    FLOORS+=("nginx, fixed body")
  fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo; echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg) (other processes on this machine skew both columns)"
echo "| family | req/s 1 conn: mlinfra / baseline (ratio) | req/s 32 conns: mlinfra / baseline (ratio) | p99 ms 32 conns: mlinfra / baseline | p99 ms 1 conn | ready s: mlinfra / baseline | RSS MB: mlinfra / baseline | errors |"
echo "|---|---|---|---|---|---|---|---|"
for fam in $FAMILIES; do
  m=$fam/mlinfra b=$fam/baseline
  echo "| $fam | ${R[$m,1,rps]} / ${R[$b,1,rps]} (**$(ratio "${R[$m,1,rps]}" "${R[$b,1,rps]}")x**) | ${R[$m,32,rps]} / ${R[$b,32,rps]} (**$(ratio "${R[$m,32,rps]}" "${R[$b,32,rps]}")x**) | ${R[$m,32,p99]} / ${R[$b,32,p99]} | ${R[$m,1,p99]} | ${R[$m,cold]} / ${R[$b,cold]} | ${R[$m,rss]} / ${R[$b,rss]} | $((${R[$m,1,err]} + ${R[$m,32,err]})) / $((${R[$b,1,err]} + ${R[$b,32,err]})) |"
done
if ((${#FLOORS[@]})); then
  echo
  echo "| floor (same run) | req/s 1 conn | req/s 32 conns | p99 ms 32 conns |"
  echo "|---|---|---|---|"
  for k in "${FLOORS[@]}"; do echo "| $k | ${R[$k,1,rps]} | ${R[$k,32,rps]} | ${R[$k,32,p99]} |"; done
  echo "| family | 3x baseline, 1 conn | 15x baseline, 32 conns |"
  echo "|---|---|---|"
  for fam in $FAMILIES; do
    b=$fam/baseline
    echo "| $fam | $(awk -v a="${R[$b,1,rps]}" 'BEGIN { printf "%.0f", 3 * a }') | $(awk -v a="${R[$b,32,rps]}" 'BEGIN { printf "%.0f", 15 * a }') |"
  done
  echo "(a goal above a floor's req/s cannot be met by any /predict behind that floor)"
fi
echo "goals: 1 conn >= 3x, 32 conns >= 15x with p99 < 10 ms, ready < 0.6 s, RSS < 100 MB"
