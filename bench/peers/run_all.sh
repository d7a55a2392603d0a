#!/usr/bin/env bash
# run_all.sh -- reproduce the gateway-overhead benchmark end to end.
#
#   bash run_all.sh                 # install what is missing, run everything, summarize
#   ROUNDS=1 DURATION=5 bash run_all.sh          # quick smoke run
#   CONFIGS="direct portkey" bash run_all.sh     # subset
#   SKIP_INSTALL=1 bash run_all.sh               # do not touch apt/pip/npm
#
# Everything installed or logged goes to $BENCH_BASE (default: bench-peers in the temp directory).
# Results: results/<UTC timestamp>/{results.tsv,summary.md,versions.txt}, next to this script.
#
# Configurations (CONFIGS, run one at a time, order reversed every other round = A/B interleave):
#   direct        wrk -> fake upstream (baseline)
#   nginx         wrk -> nginx (plain reverse proxy, keepalive pool, workers = nproc) -> upstream
#   litellm       wrk -> LiteLLM proxy, `pip install 'litellm[proxy]'` as is, uvicorn workers = nproc
#   litellm-otel  same + opentelemetry-sdk on PYTHONPATH (as in LiteLLM's `proxy-runtime` extra /
#                 Docker image; without it LiteLLM retries a failing import on every request)
#   portkey       wrk -> @portkey-ai/gateway (node, single process, --headless, NODE_ENV=production)
#   flexgrpc      wrk -> flexgrpc serve's REST shim (this repository), every request recorded
#   python-floor  wrk -> python_floor.py: uvicorn + aiohttp relaying bytes, nothing else
#   Suffix -wN on a litellm config (e.g. litellm-otel-w1) sets N uvicorn workers.
#
# Every process started here is stopped by PID (trap on EXIT).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${BENCH_BASE:-${TMPDIR:-/tmp}/bench-peers}"
LOGS=$BASE/logs
NPROC=$(nproc)
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
CONFIGS="${CONFIGS:-direct nginx litellm litellm-otel portkey}"
STREAM_TOO="${STREAM_TOO:-1}"          # also measure "stream": true (SSE) in every round
UPSTREAM_PORT="${UPSTREAM_PORT:-18000}"
NGINX_PORT=8088 LITELLM_PORT=4000 PORTKEY_PORT=8787
LITELLM_SPEC="${LITELLM_SPEC:-litellm[proxy]}"
PORTKEY_SPEC="${PORTKEY_SPEC:-@portkey-ai/gateway}"
OTEL_SPEC="${OTEL_SPEC:-opentelemetry-sdk==1.45.1 opentelemetry-api==1.45.1}"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="${RES_DIR:-$HERE/results/$STAMP}"
mkdir -p "$BASE" "$LOGS" "$RES"
TSV=$RES/results.tsv
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$RES/run.log"; }

# ---------------------------------------------------------------- install
install_missing() {
  if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    log "apt: installing wrk nginx-light"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >"$LOGS/apt.log" 2>&1
  fi
  if [[ ! -x $BASE/upstream-venv/bin/python ]] || ! $BASE/upstream-venv/bin/python -c 'import uvloop' 2>/dev/null; then
    log "pip: upstream venv (uvloop)"
    python3 -m venv $BASE/upstream-venv && $BASE/upstream-venv/bin/pip install -q uvloop >"$LOGS/pip-upstream.log" 2>&1
  fi
  if [[ ! -x $BASE/litellm-venv/bin/litellm ]]; then
    log "pip: $LITELLM_SPEC into $BASE/litellm-venv"
    python3 -m venv $BASE/litellm-venv && $BASE/litellm-venv/bin/pip install -q --upgrade pip >/dev/null 2>&1
    $BASE/litellm-venv/bin/pip install -q "$LITELLM_SPEC" >"$LOGS/pip-litellm.log" 2>&1
  fi
  if [[ ! -d $BASE/litellm-otel-addon/opentelemetry/sdk ]]; then
    log "pip: $OTEL_SPEC into $BASE/litellm-otel-addon (PYTHONPATH add-on for litellm-otel)"
    # shellcheck disable=SC2086
    $BASE/litellm-venv/bin/pip install -q --target $BASE/litellm-otel-addon $OTEL_SPEC >"$LOGS/pip-otel.log" 2>&1
  fi
  if [[ ! -f $BASE/portkey/node_modules/@portkey-ai/gateway/build/start-server.js ]]; then
    log "npm: $PORTKEY_SPEC into $BASE/portkey"
    mkdir -p $BASE/portkey && (cd $BASE/portkey && { [[ -f package.json ]] || npm init -y >/dev/null; } && npm install "$PORTKEY_SPEC" >"$LOGS/npm-portkey.log" 2>&1)
  fi
}
[[ "${SKIP_INSTALL:-0}" == 1 ]] || install_missing

# ---------------------------------------------------------------- process bookkeeping
STARTED_PIDS=()
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { todo[1] = root; n = 1; i = 1
          while (i <= n) { p = todo[i++]; printf "%s ", p
                           m = split(kids[p], a, " "); for (j = 1; j <= m; j++) todo[++n] = a[j] } }'
}
stop_pid() {  # TERM the process, wait up to 15 s, then KILL whatever is left of its tree (by PID)
  local pid=$1 tree i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  tree=$(tree_pids "$pid")
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  for p in $tree; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  local p
  for p in "${STARTED_PIDS[@]}"; do stop_pid "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {  # wait_http URL SECONDS [curl args...] -> 0 when a 200 comes back
  local url=$1 secs=$2 i; shift 2
  for i in $(seq 1 $((secs * 4))); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null)" == 200 ]] && return 0
    sleep 0.25
  done
  return 1
}

# ---------------------------------------------------------------- versions
{
  echo "date_utc: $STAMP"
  echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "python (upstream): $($BASE/upstream-venv/bin/python -V 2>&1), uvloop $($BASE/upstream-venv/bin/python -c 'import uvloop;print(uvloop.__version__)')"
  echo "litellm: $($BASE/litellm-venv/bin/python -c 'import importlib.metadata as m;print(" ".join(f"{p}=={m.version(p)}" for p in ["litellm","uvicorn","fastapi","starlette","httpx","aiohttp","openai","uvloop","pydantic"]))' 2>/dev/null)"
  echo "litellm python: $($BASE/litellm-venv/bin/python -V 2>&1); httptools installed: $($BASE/litellm-venv/bin/python -c 'import httptools' 2>/dev/null && echo yes || echo no)"
  echo "litellm-otel add-on: $(ls $BASE/litellm-otel-addon 2>/dev/null | grep dist-info | tr '\n' ' ')"
  echo "node: $(node -v)"
  echo "@portkey-ai/gateway: $(node -p "require('$BASE/portkey/node_modules/@portkey-ai/gateway/package.json').version" 2>/dev/null), hono $(node -p "require('$BASE/portkey/node_modules/hono/package.json').version" 2>/dev/null)"
} >"$RES/versions.txt"
cat "$RES/versions.txt"

# ---------------------------------------------------------------- upstream (one for the whole run)
$BASE/upstream-venv/bin/python "$HERE/upstream.py" --port "$UPSTREAM_PORT" >"$LOGS/upstream.log" 2>&1 &
UPSTREAM_PID=$!; STARTED_PIDS+=("$UPSTREAM_PID")
wait_http "http://127.0.0.1:$UPSTREAM_PORT/health" 10 || { log "upstream did not start"; cat "$LOGS/upstream.log"; exit 1; }
log "upstream pid $UPSTREAM_PID on :$UPSTREAM_PORT"
UPSTREAM_BASE="http://127.0.0.1:$UPSTREAM_PORT/v1"

LITELLM_MASTER_KEY="sk-bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# ---------------------------------------------------------------- peers
PEER_PID="" PEER_URL="" PEER_KEY="" PEER_HEADERS="" PEER_STREAM_OK=1 PEER_BODY_EXTRA=""
FLEXGRPC_PORT=8090 PYFLOOR_PORT=8091
FLEXGRPC_ROOT="$(cd "$HERE/../.." && pwd)"
start_peer() {
  local cfg=$1 w
  PEER_PID="" PEER_KEY="sk-dummy" PEER_HEADERS="" PEER_BODY_EXTRA=""
  case "$cfg" in
    direct)
      PEER_PID=$UPSTREAM_PID
      PEER_URL="http://127.0.0.1:$UPSTREAM_PORT/v1/chat/completions"
      ;;
    nginx)
      local d=$BASE/nginx; mkdir -p "$d/tmp"
      sed -e "s#__DIR__#$d#g" -e "s#__PORT__#$NGINX_PORT#" -e "s#__UPSTREAM_PORT__#$UPSTREAM_PORT#" \
          -e "s#__WORKERS__#$NPROC#" "$HERE/nginx/nginx.conf.tmpl" >"$d/nginx.conf"
      nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$LOGS/nginx.log" 2>&1 &
      PEER_PID=$!
      PEER_URL="http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
      ;;
    litellm*)
      w=$NPROC; [[ "$cfg" =~ -w([0-9]+)$ ]] && w=${BASH_REMATCH[1]}
      local pp=""; [[ "$cfg" == *otel* ]] && pp=$BASE/litellm-otel-addon
      (cd "$BASE" && exec env PYTHONPATH="$pp" FAKE_UPSTREAM_BASE="$UPSTREAM_BASE" LITELLM_MASTER_KEY="$LITELLM_MASTER_KEY" \
        LITELLM_LOG=ERROR LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_MODE=PRODUCTION \
        $BASE/litellm-venv/bin/litellm --config "$HERE/litellm/config.yaml" --host 127.0.0.1 --port $LITELLM_PORT \
        --num_workers "$w") >"$LOGS/$cfg.log" 2>&1 &
      PEER_PID=$!
      PEER_URL="http://127.0.0.1:$LITELLM_PORT/v1/chat/completions"
      PEER_KEY=$LITELLM_MASTER_KEY
      ;;
    portkey)
      (cd "$BASE/portkey" && exec env NODE_ENV=production node node_modules/@portkey-ai/gateway/build/start-server.js \
        --port=$PORTKEY_PORT --headless) >"$LOGS/portkey.log" 2>&1 &
      PEER_PID=$!
      PEER_URL="http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions"
      PEER_HEADERS="x-portkey-provider: openai|x-portkey-custom-host: $UPSTREAM_BASE"
      ;;
    flexgrpc)
      # The project's own server (REST shim), its OpenAI base URL at the fake upstream, a real
      # API key, and "start_within": "default" in every body (flexgrpc requires it).
      local d=$BASE/flexgrpc; rm -rf "$d"; mkdir -p "$d"
      PEER_KEY=$("$FLEXGRPC_ROOT/.venv/bin/python" "$HERE/flexgrpc_account.py" "sqlite:///$d/bench.db" "$d/secret")
      (cd "$d" && exec env FLEXGRPC_DATABASE_URL="sqlite:///$d/bench.db" FLEXGRPC_ENCRYPTION_KEY="$(cat "$d/secret")" \
        FLEXGRPC_OPENAI_BASE_URL="$UPSTREAM_BASE" FLEXGRPC_LOG_LEVEL=WARNING \
        "$FLEXGRPC_ROOT/.venv/bin/flexgrpc" serve --grpc-port 0 --http-port $FLEXGRPC_PORT) >"$LOGS/flexgrpc.log" 2>&1 &
      PEER_PID=$!
      PEER_URL="http://127.0.0.1:$FLEXGRPC_PORT/v1/chat/completions"
      PEER_BODY_EXTRA='"start_within":"default"'
      ;;
    python-floor)
      # The least a Python gateway does (python_floor.py): uvicorn + aiohttp relaying bytes,
      # on flexgrpc's own environment. The floor under flexgrpc's numbers, measured alongside.
      ("$FLEXGRPC_ROOT/.venv/bin/python" "$HERE/python_floor.py" --port $PYFLOOR_PORT \
        --upstream "$UPSTREAM_BASE") >"$LOGS/python-floor.log" 2>&1 &
      PEER_PID=$!
      PEER_URL="http://127.0.0.1:$PYFLOOR_PORT/v1/chat/completions"
      ;;
    *) log "unknown config $cfg"; return 1 ;;
  esac
  [[ "$PEER_PID" == "$UPSTREAM_PID" ]] || STARTED_PIDS+=("$PEER_PID")
  # readiness = a real chat completion comes back 200 with a chat.completion body
  local hdr=() h
  IFS='|' read -ra hs <<<"$PEER_HEADERS"; for h in "${hs[@]}"; do [[ -n "$h" ]] && hdr+=(-H "$h"); done
  local more=""; [[ -n "$PEER_BODY_EXTRA" ]] && more=",$PEER_BODY_EXTRA"
  local body='{"model":"gpt-5-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]'"$more"'}'
  if ! wait_http "$PEER_URL" 120 -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $PEER_KEY" "${hdr[@]}" -d "$body"; then
    log "$cfg did not become ready"; tail -20 "$LOGS/$cfg.log" 2>/dev/null; return 1
  fi
  local out; out=$(curl -s -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $PEER_KEY" "${hdr[@]}" -d "$body" "$PEER_URL")
  grep -q '"chat.completion"' <<<"$out" || { log "$cfg smoke test: unexpected body: $out"; return 1; }
  local sout; sout=$(curl -s -N -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $PEER_KEY" "${hdr[@]}" \
    -d '{"model":"gpt-5-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]'"$more"'}' "$PEER_URL")
  PEER_STREAM_OK=1
  if ! grep -q 'data: \[DONE\]' <<<"$sout"; then
    PEER_STREAM_OK=0
    log "$cfg: streaming smoke test FAILED (no 'data: [DONE]'), skipping its streaming measurements. Body: $(head -c 300 <<<"$sout")"
  fi
  log "$cfg ready (pid $PEER_PID) at $PEER_URL"
}
stop_peer() {
  [[ "$PEER_PID" == "$UPSTREAM_PID" || -z "$PEER_PID" ]] && return 0
  stop_pid "$PEER_PID"
  local keep=() p; for p in "${STARTED_PIDS[@]}"; do [[ "$p" != "$PEER_PID" ]] && keep+=("$p"); done
  STARTED_PIDS=("${keep[@]}")
  sleep 1
}

ledger_check() {  # ledger_check ROUND: every answered flexgrpc request left a durable usage record
  "$FLEXGRPC_ROOT/.venv/bin/python" - "$BASE/flexgrpc/bench.db" "$TSV" "$1" <<'PY' | tee -a "$RES/run.log"
import csv, sqlite3, sys
records = sqlite3.connect(sys.argv[1]).execute("select count(*) from usage_records").fetchone()[0]
with open(sys.argv[2]) as f:
    measured = sum(int(r["requests"]) for r in csv.DictReader(f, delimiter="\t") if r["label"] == "flexgrpc" and r["round"] == sys.argv[3])
print(f"flexgrpc ledger: {records} usage records for {measured} measured requests (plus warm-up and smoke"
      f" requests): {'ok' if records >= measured else 'MISSING RECORDS'}")
PY
}

measure() {  # measure CFG ROUND STREAM
  CONCURRENCY="1 64" DURATION="$DURATION" WARMUP="$WARMUP" THREADS=1 WATCH_PID="$PEER_PID" OUT="$TSV" ROUND="$2" \
    STREAM="$3" API_KEY="$PEER_KEY" EXTRA_HEADERS="$PEER_HEADERS" BODY_EXTRA="$PEER_BODY_EXTRA" \
    bash "$HERE/load.sh" "$PEER_URL" "$1" 2>&1 | tee -a "$RES/run.log"
}

# ---------------------------------------------------------------- rounds
read -ra CFG_ARR <<<"$CONFIGS"
for r in $(seq 1 "$ROUNDS"); do
  order=("${CFG_ARR[@]}")
  if ((r % 2 == 0)); then  # reverse order on even rounds
    order=(); for ((i = ${#CFG_ARR[@]} - 1; i >= 0; i--)); do order+=("${CFG_ARR[$i]}"); done
  fi
  log "=== round $r/$ROUNDS: ${order[*]}"
  for cfg in "${order[@]}"; do
    if start_peer "$cfg"; then
      measure "$cfg" "$r" 0
      [[ "$STREAM_TOO" == 1 && "$PEER_STREAM_OK" == 1 ]] && measure "$cfg" "$r" 1
    fi
    stop_peer
    [[ "$cfg" == flexgrpc ]] && ledger_check "$r"
  done
done

"$BASE/upstream-venv/bin/python" "$HERE/summarize.py" "$TSV" | tee "$RES/summary.md"
log "results in $RES"
