#!/usr/bin/env bash
# The server's resident memory as registrations pile up: otinish serve with the city's catalogue, calendars and
# SLA rules, wrk posting new appeals (bench/api/post_appeal.lua) in 20-second rounds until `target`
# registrations, and after each round the server's resident set (VmRSS) and the log's size on disk.
#   bash bench/api/memory.sh [target=1000000] [connections=32]      (installs wrk with apt when missing)
# Prints a line per round and the figures after 100,000 and after `target` registrations. What holds memory,
# each with its bound (docs/http.md "Memory"): RocksDB memtables and block caches of the log, the views and the
# timer index; the views' row cache; the SLA service's kept appeals; the Idempotency-Key answers.
# Not a test: figures, no assertions.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:-1000000}
conns=${2:-32}
sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
dpkg-query -W -f='${Status}' wrk 2>/dev/null | grep -q "install ok installed" ||
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
build=${OTINISH_BUILD_DIR:-$root/build}
[ -x "$build/api/otinish" ] || OTINISH_TARGETS=otinish bash "$root/scripts/build.sh" >/dev/null
bin="$build/api/otinish"
port=18110
data=$(mktemp -d /tmp/otinish-memory.XXXX)
server=""
trap '[ -n "$server" ] && kill -TERM $server 2>/dev/null; wait 2>/dev/null; rm -rf "$data" "$data.kek"' EXIT
export OTINISH_TOKEN=$("$bin" token create --data "$data" --role operator --label bench 2>/dev/null)
"$bin" keys generate --out "$data.kek" --data "$data" >/dev/null
"$bin" serve --data "$data" --listen "127.0.0.1:$port" --no-access-log --kek "file:$data.kek" \
  --catalogue "$root/examples/catalogue" --calendar "$root/examples/calendars/kz.yaml" \
  --calendar "$root/examples/calendars/shymkent.yaml" --calendar "$root/examples/calendars/round-the-clock.yaml" \
  --rules "$root/examples/rules/city.yaml" >"$data/serve.out" 2>"$data/serve.err" &
server=$!
for _ in $(seq 100); do grep -q listening "$data/serve.out" 2>/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$server/status"; }
echo "== otinish serve, memory while registering $target appeals ($(date -u +%F), $(nproc) cores, $conns connections)"
echo "at start: $(rss) MiB"
total=0; at100k=""; round=0
while [ "$total" -lt "$target" ]; do
  out=$(wrk -t2 -c"$conns" -d20s -s "$root/bench/api/post_appeal.lua" "http://127.0.0.1:$port")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  total=$((total + n - ${bad:-0}))
  round=$((round + 1))
  m=$(rss)
  echo "round $round: $total registrations, resident $m MiB, data directory $(du -sm "$data" | cut -f1) MiB"
  if [ -z "$at100k" ] && [ "$total" -ge 100000 ]; then at100k="$m MiB (at $total)"; fi
done
echo "resident memory after 100,000 registrations: $at100k"
echo "resident memory after $target registrations: $(rss) MiB (at $total; goal: levels off, < 1024 MiB)"
