#!/usr/bin/env bash
# `otinish load` drives a real server with the workload generator's appeals: every request succeeds, the
# server stops cleanly on SIGTERM, and the log it leaves verifies.
#   load_smoke.sh OTINISH_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
otinish=$1 src=$2 work=$3
source "$(dirname "$0")/start_server.sh"
"$otinish" load --url "http://127.0.0.1:$port" --token "$token" --catalogue "$src/examples/catalogue" -c 8 -d 2
kill -TERM $server
wait $server
trap - EXIT
"$otinish" verify --data "$work/data"
