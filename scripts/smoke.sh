#!/usr/bin/env bash
# Starts `yrd serve --demo` on a fresh SQLite file, waits for /readyz, fetches the API
# description and the home page, renders the console in headless Chromium in both
# languages, then stops the server. Screenshots land in target/smoke/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin yrd
out=target/smoke
rm -rf "$out" && mkdir -p "$out"
db="$out/smoke.db"
port="${SMOKE_PORT:-18391}"
base="http://127.0.0.1:$port"

./target/debug/yrd --db "$db" serve --demo --simulate 20 --listen "127.0.0.1:$port" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  curl -sf "$base/readyz" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$out/serve.log"; exit 1; }
  sleep 0.5
done
curl -sf "$base/readyz" | grep -q '"ready"'
grep -q "DEMO logins" "$out/serve.log"
curl -sf "$base/api/openapi.json" | grep -q '"openapi":"3.1.0"'
curl -sf "$base/" | grep -q 'class="city"'
curl -sf "$base/api/v1/plan" | grep -q '"aspects"'
curl -sf "$base/api/v1/govservice/items" | grep -q 'YRD-GS-001'
curl -sf "$base/api/v1/transit/loop" | grep -q 'Shanghai Hongqiao'
curl -sf "$base/api/v1/insurance/funds" | grep -q '"310100-E"'
curl -sf "$base/fhir/metadata" | grep -q '"resourceType":"CapabilityStatement"'
curl -sf "$base/api/v1/health/hospitals" | grep -q '"h-340100"'
curl -sf "$base/api/v1/charging/nearby?lon=121.47&lat=31.23&radius_km=10" | grep -q '"station_id"'
curl -sf "$base/api/v1/charging/swap-stations/nearby?lon=121.47&lat=31.23&vehicle_model=NIO%20ET5" | grep -q '"packs_ready"'
# The simulated stations connect over OCPP (serve --simulate).
for _ in $(seq 1 40); do curl -sf "$base/charging" | grep -Eq '(this node\)|本节点）): <strong>20<' && break; sleep 0.5; done
curl -sf "$base/charging" | grep -Eq '(this node\)|本节点）): <strong>20<'
echo "server ready; API description and home page served; 20 simulated stations connected"

if command -v chromium >/dev/null; then
  browse() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "$@" 2>/dev/null; }
  browse --dump-dom "$base/lang/zh?back=/" >"$out/home-zh.html"
  browse --dump-dom "$base/lang/en?back=/" >"$out/home-en.html"
  grep -q '<html lang="zh-CN">' "$out/home-zh.html"
  grep -q '长三角一体化平台' "$out/home-zh.html"
  grep -q '<html lang="en">' "$out/home-en.html"
  grep -q 'YRD Platform' "$out/home-en.html"
  for page in zh en; do
    cities=$(grep -o 'class="city"' "$out/home-$page.html" | wc -l)
    [ "$cities" -eq 41 ] || { echo "home ($page) shows $cities cities, expected 41"; exit 1; }
  done
  browse --dump-dom "$base/lang/zh?back=/plan" >"$out/plan-zh.html"
  browse --dump-dom "$base/lang/en?back=/plan" >"$out/plan-en.html"
  grep -q '<strong>165</strong>' "$out/plan-zh.html"
  grep -q 'Action plan 2024–2026' "$out/plan-en.html"
  browse --window-size=1280,1400 --screenshot="$out/plan-en.png" "$base/lang/en?back=/plan" >/dev/null
  browse --dump-dom "$base/lang/zh?back=/govservice" >"$out/govservice-zh.html"
  grep -q '长三角跨省通办' "$out/govservice-zh.html"
  browse --dump-dom "$base/lang/en?back=/transit/loop" >"$out/transit-en.html"
  grep -q 'Shanghai Hongqiao' "$out/transit-en.html"
  browse --dump-dom "$base/lang/zh?back=/insurance" >"$out/insurance-zh.html"
  grep -q '异地就医直接结算' "$out/insurance-zh.html"
  browse --dump-dom "$base/lang/en?back=/insurance" >"$out/insurance-en.html"
  grep -q 'Cross-province medical insurance' "$out/insurance-en.html"
  browse --dump-dom "$base/lang/zh?back=/health" >"$out/health-zh.html"
  grep -q '医疗互通' "$out/health-zh.html"
  grep -q '接入医院' "$out/health-zh.html"
  browse --dump-dom "$base/lang/en?back=/health/catalogue" >"$out/health-catalogue-en.html"
  grep -q 'Haemoglobin' "$out/health-catalogue-en.html"
  grep -q 'CT:51185008' "$out/health-catalogue-en.html"
  browse --dump-dom "$base/lang/zh?back=/charging" >"$out/charging-zh.html"
  grep -q '最近的充电接口' "$out/charging-zh.html"
  browse --dump-dom "$base/lang/en?back=/charging%3Fcity%3D340100" >"$out/charging-en.html"
  grep -q 'Nearest connectors' "$out/charging-en.html"
  grep -q 'CS-340100-' "$out/charging-en.html"
  grep -q 'SW-340100-01' "$out/charging-en.html"
  grep -q '附近的换电站' "$out/charging-zh.html"
  browse --window-size=1280,1300 --screenshot="$out/transit-loop-en.png" "$base/lang/en?back=/transit/loop" >/dev/null
  browse --window-size=1280,1200 --screenshot="$out/govservice-zh.png" "$base/lang/zh?back=/govservice" >/dev/null
  browse --window-size=1280,1000 --screenshot="$out/home-zh.png" "$base/lang/zh?back=/" >/dev/null
  browse --window-size=390,1500 --screenshot="$out/home-en-phone.png" "$base/lang/en?back=/" >/dev/null
  echo "console renders in headless Chromium (zh and en); screenshots in $out"
elif [ -n "${CI:-}" ]; then
  echo "chromium is missing in CI"; exit 1
else
  echo "chromium not installed: skipped the browser check"
fi

kill -TERM $server
wait $server 2>/dev/null || true
grep -q "shutting down" "$out/serve.log"
echo "smoke run passed"
