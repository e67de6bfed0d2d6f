#!/usr/bin/env bash
# The OCPP load figure for docs/performance.md: a release `yrd serve` on a fresh SQLite
# file, N simulated stations registered through the API, connected over WebSocket and
# driven at a total message rate by `yrd-sim` on the same machine.
#   bash scripts/ocpp_load.sh                 # 10,000 stations, 5,000 messages/s, 30 s
#   STATIONS=2000 RATE=1000 bash scripts/ocpp_load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
stations="${STATIONS:-10000}"
rate="${RATE:-5000}"
seconds="${SECONDS_RUN:-30}"
cargo build -q --release --bin yrd --bin yrd-sim
out=target/ocpp-load && rm -rf "$out" && mkdir -p "$out"
db="$out/load.db"
port="${LOAD_PORT:-18397}"
./target/release/yrd --db "$db" --log warn demo >/dev/null
token=$(./target/release/yrd --db "$db" user token create demo.operator --name load 2>/dev/null)
./target/release/yrd --db "$db" --log warn serve --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.25; done
./target/release/yrd-sim --base "http://127.0.0.1:$port" --token "$token" --stations "$stations" \
  --rate "$rate" --seconds "$seconds" --server-pid "$server"
