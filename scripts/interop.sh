#!/usr/bin/env bash
# Interoperability checks with independent clients: a government-services case walked
# through the API and its e-licence verified by jwcrypto (Python), next to the
# platform's API and its offline CLI. Needs python3; installs jwcrypto in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin yrd
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check jwcrypto
out=target/interop && rm -rf "$out" && mkdir -p "$out"
db="$out/interop.db"
port="${INTEROP_PORT:-18394}"
yrd() { ./target/debug/yrd --db "$db" --log warn "$@"; }
yrd demo >/dev/null
anhui=$(yrd user token create demo.ah --name interop 2>/dev/null)
shanghai=$(yrd user token create demo.sh --name interop 2>/dev/null)
./target/debug/yrd --db "$db" --log warn serve --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
(cd scripts/interop && ../../.venv/bin/python licence_walk.py "http://127.0.0.1:$port" "../../target/debug/yrd" "../../$db" "$anhui" "$shanghai" "../../$out")
echo "interop checks passed"
