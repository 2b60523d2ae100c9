#!/usr/bin/env bash
# Server instructions per request, counted by callgrind: steadier than req/s on a shared machine.
#
#   scripts/count-instructions.sh MODE [SECONDS]
#
# MODE: plain | metrics | dashboard | traces (server and client flags as the load test's
# columns; `dashboard` also reads /api/events throughout, `traces` exports to a port nothing
# listens on, so export attempts fail fast). Starts the load test's local service, a release
# `ferrotunnel server` under callgrind (instrumentation off until the warm-up is done) and a
# client, drives `wrk -c16` (`CONNECTIONS=64` for more) on /1k through the tunnel, and divides
# what callgrind collected by the requests served. Needs valgrind and wrk (apt-get install valgrind wrk) and
# `cargo bench -p ferrotunnel-cli --bench loadtest --no-run` built first. Uses fixed loopback
# ports 17835, 18080, 19090, 19100, 19101.
set -euo pipefail
MODE=${1:?plain | metrics | dashboard | traces}
SECS=${2:-5}
CONNECTIONS=${CONNECTIONS:-16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/ferrotunnel}
BENCH=$(ls -t "$ROOT"/target/release/deps/loadtest-* | grep -v '\.d$' | head -1)
OUT=$(mktemp -d)
server_flags=(); client_flags=()
case $MODE in
  plain) ;;
  metrics) server_flags=(--metrics 127.0.0.1:19100); client_flags=(--metrics 127.0.0.1:19101) ;;
  dashboard) server_flags=(--dashboard 127.0.0.1:19090) ;;
  traces) server_flags=(--otlp-endpoint http://127.0.0.1:9); client_flags=(--otlp-endpoint http://127.0.0.1:9) ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT
wait_for() { for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done; echo "no '$2' in $1" >&2; exit 1; }

# The local service exits when its stdin closes: hold it open with a pipe we own.
mkfifo "$OUT/hold"
FERROTUNNEL_BENCH_ROLE=local-service "$BENCH" < "$OUT/hold" > "$OUT/local" 2>&1 & pids+=($!)
exec 3> "$OUT/hold"
wait_for "$OUT/local" "Local service"
LOCAL=$(awk '/Local service/ {print $NF}' "$OUT/local")

valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" server --listen 127.0.0.1:17835 --http 127.0.0.1:18080 --domain localhost --token t \
  "${server_flags[@]}" > "$OUT/server" 2> "$OUT/server.err" & SERVER=$!; pids+=($SERVER)
wait_for "$OUT/server" "online"
"$BIN" client --server tcp://127.0.0.1:17835 --token t --local "$LOCAL" --subdomain app \
  "${client_flags[@]}" > "$OUT/client" 2>&1 & pids+=($!)
wait_for "$OUT/client" "online"
if [ "$MODE" = dashboard ]; then curl -sN http://127.0.0.1:19090/api/events > /dev/null & pids+=($!); fi

wrk -t1 -c"$CONNECTIONS" -d2s -H 'Host: app.localhost' http://127.0.0.1:18080/1k > /dev/null
callgrind_control -i on "$SERVER" > /dev/null
result=$(wrk -t1 -c"$CONNECTIONS" -d"${SECS}"s -H 'Host: app.localhost' http://127.0.0.1:18080/1k)
callgrind_control -i off "$SERVER" > /dev/null
requests=$(awk '/requests in/ {print $1}' <<< "$result")
kill -INT "$SERVER"; wait "$SERVER" 2>/dev/null || true
collected=$(awk '/Collected/ {print $NF}' "$OUT/server.err")
python3 -c "print(f'$MODE: {$requests} requests, {$collected/$requests:,.0f} server instructions per request')"
if [ -n "${KEEP:-}" ]; then cp "$OUT"/callgrind.out* "$KEEP"/; echo "profiles in $KEEP (callgrind_annotate)"; fi
