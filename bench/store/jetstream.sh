#!/usr/bin/env bash
# The log on a three-server NATS JetStream cluster (loopback, this machine) beside the embedded RocksDB log, in
# the same run: durable appends at 1, 8 and 32 writers with p50/p99, then the time appends stop when the
# stream's leader is SIGKILLed; and HTTP registrations (otinish serve, wrk) on both.
#   bash bench/store/jetstream.sh [seconds-per-step]
# Not a test: figures, no assertions. On one 2-core machine the three servers, the writers and the RocksDB log
# share the cores: docs/jetstream.md says what to expect on three machines.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-5}
bash "$root/scripts/install-deps.sh" test
build=${OTINISH_BUILD_DIR:-$root/build}
OTINISH_BUILD_DIR=$build OTINISH_TARGETS="otinish_jetstream_bench otinish" bash "$root/scripts/build.sh" >/dev/null
cluster=$(mktemp -d /tmp/otinish-js-cluster.XXXX)
data=""
server=""
trap '[ -n "$server" ] && kill -TERM $server 2>/dev/null; wait 2>/dev/null; bash "$root/scripts/nats-cluster.sh" stop "$cluster"; rm -rf "$cluster" $data' EXIT
urls=$(bash "$root/scripts/nats-cluster.sh" start "$cluster" 16222)
echo "== durable appends ($(date -u +%F), $(nproc) cores): RocksDB beside JetStream (3 servers on this machine)"
OTINISH_SOURCE_DIR=$root "$build/bench/store/otinish_jetstream_bench" --urls "$urls" --cluster "$cluster" --seconds "$secs"
sleep 3  # the killed leader is back and caught up

# HTTP registrations, 32 connections, the same server on both logs: with plain personal data (no key store), and
# sealed (each new applicant's key written to DIR/keys, or to the cluster's bucket beside the JetStream log).
bin="$build/api/otinish"
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo; $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
kek=$(mktemp -u /tmp/otinish-js-kek.XXXX)
"$bin" keys generate --out "$kek" >/dev/null
trap '[ -n "$server" ] && kill -TERM $server 2>/dev/null; wait 2>/dev/null; bash "$root/scripts/nats-cluster.sh" stop "$cluster"; rm -rf "$cluster" $data "$kek"' EXIT
register() {  # LABEL plain|sealed [serve flags]
  local label=$1 personal=(--plain-personal-data); shift
  [ "$1" = sealed ] && personal=(--kek "file:$kek"); shift
  data=$(mktemp -d /tmp/otinish-js-serve.XXXX)
  export OTINISH_TOKEN=$("$bin" token create --data "$data" --role operator --label bench 2>/dev/null)
  "$bin" serve --data "$data" --listen 127.0.0.1:18123 --no-access-log "${personal[@]}" "$@" >"$data/out" 2>"$data/err" &
  server=$!
  for _ in $(seq 100); do grep -q listening "$data/out" 2>/dev/null && break; sleep 0.1; done
  echo -n "HTTP registrations, $label, wrk -c32 -d${secs}s: "
  wrk -t2 -c32 -d"${secs}s" --latency -s "$root/bench/api/post_appeal.lua" http://127.0.0.1:18123 |
    awk '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {printf "%s/s, p50 %s, p99 %s\n", r, p50, p99}'
  kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=""
  rm -rf "$data"; data=""
}
register "RocksDB log, plain" plain
register "JetStream log, plain" plain --store "$urls"
register "RocksDB log, sealed (DIR/keys)" sealed
# (The same OTINISH stream as the plain run: --new-key-store lets the bucket begin beside its events.)
register "JetStream log, sealed (keys in the cluster's bucket)" sealed --store "$urls" --new-key-store
