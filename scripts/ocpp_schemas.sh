#!/usr/bin/env bash
# The official OCPP JSON schemas the central system validates against, taken unchanged
# from the PyPI package `ocpp` (which ships OCA's schemas for 1.6, 2.0.1 and 2.1).
#   bash scripts/ocpp_schemas.sh          # (re)vendor them into crates/charging/schemas
#   bash scripts/ocpp_schemas.sh --check  # fail if a vendored file differs from the package
# Only the messages this central system sends or receives are vendored; the binary
# embeds them (no network at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.1.0
dest=crates/charging/schemas
common="BootNotification Heartbeat StatusNotification Authorize MeterValues DataTransfer
  Reset UnlockConnector ChangeAvailability"
v16="$common StartTransaction StopTransaction DiagnosticsStatusNotification FirmwareStatusNotification
  RemoteStartTransaction RemoteStopTransaction ChangeConfiguration GetConfiguration ClearCache"
v201="$common TransactionEvent FirmwareStatusNotification RequestStartTransaction RequestStopTransaction
  GetVariables SetVariables"
v21="$v201 BatterySwap RequestBatterySwap"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "${1:-}" = "--check" ] && [ -x .venv/bin/python ]; then
  src=$(.venv/bin/python -c 'import ocpp, os; print(os.path.dirname(ocpp.__file__))')
  [ "$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("ocpp"))')" = "$version" ] \
    || { echo "the venv's ocpp is not $version"; exit 1; }
else
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$work" "ocpp==$version"
  (cd "$work" && python3 -m zipfile -e ocpp-*.whl pkg)
  src="$work/pkg/ocpp"
fi

files() { # version-folder, names, request-suffix
  for name in $2; do echo "$1/$name$3.json $1/${name}Response.json"; done
}
list="$(files v16 "$v16" "") $(files v201 "$v201" Request) $(files v21 "$v21" Request)"
if [ "${1:-}" = "--check" ]; then
  for f in $list; do cmp -s "$src/${f%%/*}/schemas/${f#*/}" "$dest/$f" || { echo "differs from ocpp $version: $dest/$f"; exit 1; }; done
  extra=$(cd "$dest" && find . -name '*.json' | sed 's|^\./||' | sort | comm -23 - <(printf '%s\n' $list | sort))
  [ -z "$extra" ] || { echo "not from the package list: $extra"; exit 1; }
  echo "OCPP schemas: $(printf '%s\n' $list | wc -l) files identical to ocpp $version"
else
  rm -rf "$dest"/v16 "$dest"/v201 "$dest"/v21
  for f in $list; do mkdir -p "$dest/${f%%/*}"; cp "$src/${f%%/*}/schemas/${f#*/}" "$dest/$f"; done
  echo "vendored $(printf '%s\n' $list | wc -l) schemas from ocpp $version into $dest"
fi
