#!/usr/bin/env bash
# Load figures for docs/performance.md: starts a release build of `yrd serve` on a
# fresh SQLite file and drives it with wrk (Debian package `wrk`) on this machine only.
#   bash scripts/load.sh            # 15 s per endpoint, 2 threads, 32 connections
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-15s}"
connections="${CONNECTIONS:-32}"
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
cargo build -q --release --bin yrd
out=target/load && rm -rf "$out" && mkdir -p "$out"
db="$out/load.db"
port="${LOAD_PORT:-18392}"
base="http://127.0.0.1:$port"
yrd() { ./target/release/yrd --db "$db" --log warn "$@"; }

yrd demo >/dev/null   # the demonstration data: 165 plan tasks with their history
yrd user add loadtest --name "Load test" --no-password >/dev/null
yrd user grant loadtest --module audit --level read --scope 32 >/dev/null
token=$(yrd user token create loadtest --name load 2>/dev/null)

./target/release/yrd --db "$db" --log warn serve --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.25; done
kill -0 $server 2>/dev/null && curl -sf "$base/readyz" >/dev/null || { cat "$out/serve.log"; exit 1; }

run() {
  echo "== $1"
  shift
  wrk --latency -t2 -c"$connections" -d"$duration" "$@" | grep -E "Requests/sec|Latency|99%|50%|Non-2xx"
}
run "GET /api/v1/jurisdictions (public, 49 rows of JSON)" "$base/api/v1/jurisdictions"
run "GET /api/v1/me (bearer token: hash lookup, grants)" -H "Authorization: Bearer $token" "$base/api/v1/me"
run "GET /api/v1/audit?limit=20 (bearer token, scoped query)" -H "Authorization: Bearer $token" "$base/api/v1/audit?limit=20"
run "GET /api/v1/plan/tasks (165 tasks, each assessed)" "$base/api/v1/plan/tasks"
run "GET /plan (console overview page)" "$base/plan"
