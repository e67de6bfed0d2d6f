#!/usr/bin/env bash
# Runs the walk-through of docs/health.md exactly as written: the shell blocks between
# its walkthrough markers, in one shell, against `yrd serve --demo` on a fresh SQLite
# file. Fails on the first command that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin yrd
out=target/health-walkthrough && rm -rf "$out" && mkdir -p "$out"
db="$out/walkthrough.db"
port="${WALKTHROUGH_PORT:-18396}"
export BASE="http://127.0.0.1:$port"
./target/debug/yrd --db "$db" --log warn serve --demo --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.5; done
curl -sf "$BASE/readyz" >/dev/null

# The document's commands, with `yrd` meaning this build on this database.
{
  echo 'set -euo pipefail'
  echo "yrd() { ./target/debug/yrd --db '$db' --log warn \"\$@\" 2>/dev/null; }"
  awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && /^```sh$/{code=1; next} on && /^```$/{code=0; next} code' docs/health.md
} >"$out/walkthrough.sh"
bash "$out/walkthrough.sh" | tee "$out/walkthrough.out"

# What the document promises, checked on what it printed.
grep -q 'urn:yrd:sid:national-id-hmac' "$out/walkthrough.out"
grep -q '^certain ' "$out/walkthrough.out"
[ "$(grep -c '^403$' "$out/walkthrough.out")" -eq 2 ]
grep -q $'^718-7\t.*\ttrue\t$' "$out/walkthrough.out"
grep -q $'^2345-7\t.*\tfalse\t.*days old' "$out/walkthrough.out"
grep -q '"decision":"accepted","fee_fen":1000' "$out/walkthrough.out"
grep -q '"decision":"declined","reason":"symptoms changed"' "$out/walkthrough.out"
grep -q '"kty":"OKP","crv":"Ed25519"' "$out/walkthrough.out"
grep -q '^718-7 final$' "$out/walkthrough.out"
echo "health walk-through ran as written"
