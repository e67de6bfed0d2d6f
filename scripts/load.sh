#!/usr/bin/env bash
# Load figures for docs/performance.md: starts a release build of `yrd serve` on a
# fresh SQLite file and drives it with wrk (Debian package `wrk`) on this machine only.
#   bash scripts/load.sh                   # 15 s per endpoint, 2 threads, 32 connections
#   SECTIONS=health bash scripts/load.sh   # only the health exchange
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-15s}"
connections="${CONNECTIONS:-32}"
sections="${SECTIONS:-platform health}"
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
if [[ " $sections " == *" platform "* ]]; then
  run "GET /api/v1/jurisdictions (public, 49 rows of JSON)" "$base/api/v1/jurisdictions"
  run "GET /api/v1/me (bearer token: hash lookup, grants)" -H "Authorization: Bearer $token" "$base/api/v1/me"
  run "GET /api/v1/audit?limit=20 (bearer token, scoped query)" -H "Authorization: Bearer $token" "$base/api/v1/audit?limit=20"
  run "GET /api/v1/plan/tasks (165 tasks, each assessed)" "$base/api/v1/plan/tasks"
  run "GET /plan (console overview page)" "$base/plan"
fi

if [[ " $sections " == *" health "* ]]; then
  hospital=$(yrd user token create demo.hospital.sh --name load 2>/dev/null)
  auth="Authorization: Bearer $hospital"
  # A patient of the Shanghai hospital with one result, and a visiting patient whose home
  # hospital's results it may read (the demo recorded their consent).
  fhir_post() { curl -sf -X POST -H "$auth" -H 'Content-Type: application/fhir+json' "$base/fhir/$1" -d "$2" | jq -r .id; }
  patient_ref="Patient/$(fhir_post Patient '{"resourceType":"Patient","name":[{"family":"Load"}],"gender":"other"}')"
  observation='{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"'$patient_ref'"},"effectiveDateTime":"2026-11-28T09:00:00+08:00","valueQuantity":{"value":131,"unit":"g/L","system":"http://unitsofmeasure.org","code":"g/L"}}'
  obs=$(fhir_post Observation "$observation")
  visitor=$(curl -sf -H "$auth" "$base/fhir/Patient?_count=100" | jq -r '.entry[].resource.id' | while read -r id; do
    n=$(curl -s -H "$auth" "$base/api/v1/health/patients/$id/results" | jq 'if type == "array" then length else 0 end')
    [ "$n" -gt 0 ] && { echo "$id"; break; }
  done)
  run "GET /fhir/Observation/{id} (read with access check)" -H "$auth" "$base/fhir/Observation/$obs"
  run "GET /fhir/Observation?patient=…&code=…&date=ge… (search, 3 index conditions)" -H "$auth" "$base/fhir/Observation?patient=$patient_ref&code=http://loinc.org|718-7,2160-0,1742-6&date=ge2020-01-01"
  run "GET /api/v1/health/patients/{id}/results (consent check, logged, assessed)" -H "$auth" "$base/api/v1/health/patients/$visitor/results"
  cat >"$out/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Authorization"] = "Bearer $hospital"
wrk.body = '$observation'
LUA
  run "POST /fhir/Observation (validate, index, version, audit: one transaction)" -s "$out/create.lua" "$base/fhir/Observation"
fi
