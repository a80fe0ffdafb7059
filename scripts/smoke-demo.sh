#!/usr/bin/env bash
# Proves the README's first command end to end: runs `bash scripts/setup.sh demo` in the
# background, waits for the server's banner, asks it for a demo conversation with the printed
# admin key, stops it with SIGTERM and checks that it exits 0.
#
#   bash scripts/smoke-demo.sh        # e.g. ../shared/tools/fresh-debian.sh . 'bash scripts/smoke-demo.sh && bash scripts/setup.sh test'
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(mktemp)
port=${CONVLEDGER_SMOKE_PORT:-18080}
CONVLEDGER_LISTEN=127.0.0.1:${port} bash scripts/setup.sh demo >"${out}" 2>&1 &
pid=$!
for _ in $(seq 1 1800); do
  grep -q "Stop with" "${out}" && break
  kill -0 "${pid}" 2>/dev/null || { cat "${out}"; echo "smoke: the demo exited early" >&2; exit 1; }
  sleep 1
done
grep -A40 "convledger serve: listening" "${out}"
key=$(grep -o 'CONVLEDGER_KEY=[^ ]*' "${out}" | cut -d= -f2)
python3 - "${port}" "${key}" <<'PY'
import json, sys, urllib.request
port, key = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
assert json.load(urllib.request.urlopen(base + "/healthz"))["status"] == "ok"
req = urllib.request.Request(base + "/v1/conversations/demo-wa-ben/history",
                             headers={"Authorization": "Bearer " + key})
history = json.load(urllib.request.urlopen(req))
print("smoke: history of demo-wa-ben has", len(history.get("messages", [])), "messages")
assert history.get("messages"), history
PY
kill -TERM "${pid}"
set +e
wait "${pid}"
rc=$?
set -e
tail -3 "${out}"
rm -f "${out}"
[ "${rc}" -eq 0 ] || { echo "smoke: serve exited ${rc} on SIGTERM" >&2; exit 1; }
echo "smoke: ok"
