#!/usr/bin/env bash
# load.sh URL [LABEL] -- drive an OpenAI-compatible /v1/chat/completions endpoint with wrk.
#
# For each concurrency: a short warm-up run (discarded), then a measured run.
# Prints one line per concurrency and (if OUT is set) appends a TSV row to OUT.
#
# Environment (all optional):
#   CONCURRENCY="1 64"    connection counts to test (closed loop: 1 request in flight per connection)
#   DURATION=15           measured seconds per concurrency
#   WARMUP=3              warm-up seconds per concurrency (0 = none)
#   THREADS=1             wrk threads (1 keeps wrk to <= 1 of the 2 cores)
#   TIMEOUT=10s           wrk per-request timeout
#   EXTRA_HEADERS="k: v|k2: v2"   extra request headers (e.g. x-portkey-provider)
#   API_KEY=sk-dummy MODEL=gpt-5-mini STREAM=0|1
#   WATCH_PID=<pid>       gateway pid: its process tree's RSS (max of 1 s samples) and
#                         CPU time per request are measured during the run
#   OUT=<file.tsv>        append results here
#   ROUND=<n>             free-form round tag written to OUT
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
URL="${1:?usage: load.sh URL [LABEL]}"
LABEL="${2:-run}"
CONCURRENCY="${CONCURRENCY:-1 64}"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
THREADS="${THREADS:-1}"
TIMEOUT="${TIMEOUT:-10s}"
WATCH_PID="${WATCH_PID:-}"
OUT="${OUT:-}"
ROUND="${ROUND:-0}"
export BODY_EXTRA="${BODY_EXTRA:-}" EXTRA_HEADERS="${EXTRA_HEADERS:-}" API_KEY="${API_KEY:-sk-dummy}" MODEL="${MODEL:-gpt-5-mini}" STREAM="${STREAM:-0}"
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }
CLK_TCK=$(getconf CLK_TCK)

# All pids in the tree rooted at $1 (including $1).
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { todo[1] = root; n = 1; i = 1
          while (i <= n) { p = todo[i++]; printf "%s ", p
                           m = split(kids[p], a, " "); for (j = 1; j <= m; j++) todo[++n] = a[j] } }'
}
tree_rss_kb() {  # sum of RSS (kB) over the tree
  local s=0 p r
  for p in $(tree_pids "$1"); do
    r=$(ps -o rss= -p "$p" 2>/dev/null | tr -d ' ' || true)
    [[ -n "$r" ]] && s=$((s + r))
  done
  echo "$s"
}
tree_cpu_ticks() {  # utime+stime (clock ticks) over the live tree
  local s=0 p f
  for p in $(tree_pids "$1"); do
    f=$(cut -d')' -f2- /proc/$p/stat 2>/dev/null || true)
    [[ -n "$f" ]] || continue
    # fields after ')' : state(1) ... utime is the 12th, stime the 13th
    set -- $f
    s=$((s + ${12} + ${13}))
  done
  echo "$s"
}
host_ticks() {  # "busy total" jiffies from /proc/stat
  awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; idle=$5+$6; print t-idle, t}' /proc/stat
}

if [[ -n "$OUT" && ! -s "$OUT" ]]; then
  printf 'label\tround\tconc\tstream\trps\tp50_ms\tp90_ms\tp99_ms\tmean_ms\trequests\terrors\tgw_rss_mb\tgw_cpu_ms_per_req\thost_cpu_busy_pct\tstarted\n' >"$OUT"
fi

for C in $CONCURRENCY; do
  T=$THREADS; ((T > C)) && T=$C
  if ((WARMUP > 0)); then
    wrk -t"$T" -c"$C" -d"${WARMUP}s" --timeout "$TIMEOUT" -s "$HERE/chat.lua" "$URL" >/dev/null 2>&1 || true
  fi
  RSS_FILE=$(mktemp); echo 0 >"$RSS_FILE"
  SAMPLER=""
  if [[ -n "$WATCH_PID" ]]; then
    ( max=0; while :; do sleep 1; r=$(tree_rss_kb "$WATCH_PID"); ((r > max)) && max=$r && echo "$max" >"$RSS_FILE"; done ) &
    SAMPLER=$!
    CPU0=$(tree_cpu_ticks "$WATCH_PID")
  fi
  read -r HB0 HT0 < <(host_ticks)
  STARTED=$(date -u +%H:%M:%S)
  RAW=$(wrk -t"$T" -c"$C" -d"${DURATION}s" --timeout "$TIMEOUT" -s "$HERE/chat.lua" "$URL" 2>&1) || true
  read -r HB1 HT1 < <(host_ticks)
  GW_CPU="" GW_RSS=""
  if [[ -n "$WATCH_PID" ]]; then
    CPU1=$(tree_cpu_ticks "$WATCH_PID")
    kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
    GW_RSS=$(awk -v k="$(cat "$RSS_FILE")" 'BEGIN{printf "%.0f", k/1024}')
  fi
  rm -f "$RSS_FILE"
  LINE=$(grep '^RESULT ' <<<"$RAW" || true)
  if [[ -z "$LINE" ]]; then
    echo "[$LABEL c=$C] wrk produced no RESULT line:" >&2; echo "$RAW" >&2; continue
  fi
  val() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$LINE"; }
  REQ=$(val requests); RPS=$(val rps)
  ERR=$(( $(val err_connect) + $(val err_read) + $(val err_write) + $(val err_status) + $(val err_timeout) ))
  P50=$(awk -v u="$(val p50_us)" 'BEGIN{printf "%.3f", u/1000}')
  P90=$(awk -v u="$(val p90_us)" 'BEGIN{printf "%.3f", u/1000}')
  P99=$(awk -v u="$(val p99_us)" 'BEGIN{printf "%.3f", u/1000}')
  MEAN=$(awk -v u="$(val mean_us)" 'BEGIN{printf "%.3f", u/1000}')
  if [[ -n "$WATCH_PID" ]]; then
    GW_CPU=$(awk -v d=$((CPU1 - CPU0)) -v hz="$CLK_TCK" -v n="$REQ" 'BEGIN{ if (n>0) printf "%.3f", d*1000/hz/n; else print "" }')
  fi
  HOST=$(awk -v b=$((HB1 - HB0)) -v t=$((HT1 - HT0)) 'BEGIN{ if (t>0) printf "%.0f", 100*b/t }')
  printf '%-22s c=%-3s rps=%-9s p50=%-8s p90=%-8s p99=%-8s ms  err=%-5s rss=%sMB cpu/req=%sms host_cpu=%s%%\n' \
    "$LABEL" "$C" "$RPS" "$P50" "$P90" "$P99" "$ERR" "${GW_RSS:--}" "${GW_CPU:--}" "$HOST"
  if ((ERR > 0)); then
    echo "  !! $ERR errors; wrk output:" >&2; grep -vE '^RESULT' <<<"$RAW" | sed 's/^/  | /' >&2
  fi
  if [[ -n "$OUT" ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$LABEL" "$ROUND" "$C" "$STREAM" "$RPS" "$P50" "$P90" "$P99" "$MEAN" \
      "$REQ" "$ERR" "$GW_RSS" "$GW_CPU" "$HOST" "$STARTED" >>"$OUT"
  fi
done
