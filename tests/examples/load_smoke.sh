#!/usr/bin/env bash
# `otinish load` drives a real server with the workload generator's appeals: every request succeeds, the
# server stops cleanly on SIGTERM, and the log it leaves verifies.
#   load_smoke.sh OTINISH_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
otinish=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
token=$("$otinish" token create --data "$work/data" --role operator | grep -o 'otn_[0-9a-f_]*' | head -1)
"$otinish" serve --data "$work/data" --listen 127.0.0.1:0 > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
port=""
for _ in $(seq 100); do
  port=$(grep -o '"address":"127.0.0.1:[0-9]*' "$work/serve.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start"; cat "$work/serve.log"; exit 1; }
"$otinish" load --url "http://127.0.0.1:$port" --token "$token" --catalogue "$src/examples/catalogue" -c 8 -d 2
kill -TERM $server
wait $server
trap - EXIT
"$otinish" verify --data "$work/data"
