#!/usr/bin/env bash
# SIGTERM while `otinish load` is still posting appeals: the server finishes the requests in flight and exits 0,
# every appeal it answered 201 for is in the log, and the log verifies (hash chain and stream indexes).
#   sigterm_under_load.sh OTINISH_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
otinish=$1 src=$2 work=$3
source "$(dirname "$0")/start_server.sh"
# Load for longer than the server lives; its requests after the stop fail (exit 1), which is expected here.
"$otinish" load --url "http://127.0.0.1:$port" --token "$token" --catalogue "$src/examples/catalogue" -c 16 -d 4 \
  > "$work/load.out" 2> "$work/load.err" &
load=$!
# Stop the server once the load is under way (its first 201 is in the access log), not after a fixed time: a
# sanitizer build or a busy machine may need longer than that just to start the load.
for _ in $(seq 300); do
  grep -q '"route":"/v1/appeals","status":201' "$work/serve.log" && break
  sleep 0.1
done
sleep 0.5
kill -TERM $server
status=0
wait $server || status=$?
trap - EXIT
[ "$status" -eq 0 ] || { echo "serve exited $status after SIGTERM"; tail -5 "$work/serve.log"; exit 1; }
wait $load || true
cat "$work/load.out"
acknowledged=$(sed -n 's/^appeals registered: \([0-9]*\),.*/\1/p' "$work/load.out")
[ -n "$acknowledged" ] && [ "$acknowledged" -gt 0 ] || { echo "load registered nothing before the stop"; exit 1; }
"$otinish" export --data "$work/data" --out "$work/log.jsonl"
in_log=$(grep -c '"type":"AppealRegistered"' "$work/log.jsonl" || true)
echo "answered 201: $acknowledged, registrations in the log: $in_log"
[ "$in_log" -ge "$acknowledged" ] || { echo "LOST: $((acknowledged - in_log)) acknowledged appeals"; exit 1; }
"$otinish" verify --data "$work/data"
echo "SIGTERM_UNDER_LOAD_OK"
