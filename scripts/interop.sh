#!/usr/bin/env bash
# Interoperability checks with independent implementations: a government-services case
# walked through the API and its e-licence verified by jwcrypto (Python), next to the
# platform's API and its offline CLI; and the journey planner against pyraptor.
# Needs python3; installs jwcrypto and pyraptor in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin yrd
[ -x .venv/bin/python ] || python3 -m venv .venv
# fhir.resources 6.1.0 is the last release whose default models are R4 (4.0.1); it needs pydantic 1.
.venv/bin/pip install -q --disable-pip-version-check jwcrypto "pyraptor==1.3.10" "numpy<2" attrs "fhir.resources==6.1.0" "pydantic<2" "ocpp==2.1.0" websockets
# The OCPP schemas the central system embeds are the package's, unchanged.
bash scripts/ocpp_schemas.sh --check
out=target/interop && rm -rf "$out" && mkdir -p "$out"
db="$out/interop.db"
port="${INTEROP_PORT:-18394}"
yrd() { ./target/debug/yrd --db "$db" --log warn "$@"; }
yrd demo >/dev/null
anhui=$(yrd user token create demo.ah --name interop 2>/dev/null)
shanghai=$(yrd user token create demo.sh --name interop 2>/dev/null)
hospital=$(yrd user token create demo.hospital.sh --name interop 2>/dev/null)
patient=$(yrd user token create demo.patient --name interop 2>/dev/null)
operator=$(yrd user token create demo.operator --name interop 2>/dev/null)
./target/debug/yrd --db "$db" --log warn serve --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
(cd scripts/interop && ../../.venv/bin/python licence_walk.py "http://127.0.0.1:$port" "../../target/debug/yrd" "../../$db" "$anhui" "$shanghai" "../../$out")
# The journey planner against pyraptor on the same feed: the earliest arrivals must agree.
.venv/bin/python scripts/transit/compare_pyraptor.py ./target/debug/yrd "$out" 200 | tail -1
# The FHIR endpoint against fhir.resources, and a recognition decision against jwcrypto.
.venv/bin/python scripts/interop/fhir_validate.py "http://127.0.0.1:$port" "$hospital" "$patient" 340102198503150020
# A charging session by the Python ocpp package as an OCPP 1.6 charge point, then as a
# 2.0.1 charging station; the package checks what it receives against the schemas.
.venv/bin/python scripts/interop/ocpp16_walk.py "http://127.0.0.1:$port" "$operator" CS-DEMO-1 demo-station-key-0001 DEMO-CARD-1
PYTHONPATH=scripts/interop .venv/bin/python scripts/interop/ocpp201_walk.py "http://127.0.0.1:$port" "$operator" CS-DEMO-1 demo-station-key-0001 DEMO-CARD-1
# A battery swap by the same package as an OCPP 2.1 swap station.
PYTHONPATH=scripts/interop .venv/bin/python scripts/interop/ocpp21_walk.py "http://127.0.0.1:$port" "$operator" SW-DEMO-1 demo-swap-key-000001 DEMO-CARD-1
kill $server 2>/dev/null || true
bash scripts/health_walkthrough.sh >"$out/health-walkthrough.log" 2>&1 || { cat "$out/health-walkthrough.log"; exit 1; }
tail -1 "$out/health-walkthrough.log"
echo "interop checks passed"
