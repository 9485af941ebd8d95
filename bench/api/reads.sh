#!/usr/bin/env bash
# The read audit's cost: GET /v1/appeals/{id} against GET /v1/appeals/{id}/applicant (the audited read of the
# applicant's contact: opens the sealed applicant and queues a PersonalDataRead event, batched into the log) on
# the same server, in the same run, under wrk.
#   bash bench/api/reads.sh [connections] [seconds per round] [rounds]   (installs wrk with apt when missing)
# Prints both request rates of every round and the median cost (goal: the audited read costs <= 10% of the plain
# read's throughput), and how many access events the log holds afterwards. Not a test: figures, no assertions.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
conns=${1:-32}
secs=${2:-5}
rounds=${3:-5}
sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
dpkg-query -W -f='${Status}' wrk 2>/dev/null | grep -q "install ok installed" ||
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
build=${OTINISH_BUILD_DIR:-$root/build}
[ -x "$build/api/otinish" ] || OTINISH_TARGETS=otinish bash "$root/scripts/build.sh" >/dev/null
bin="$build/api/otinish"
port=18119
data=$(mktemp -d /tmp/otinish-reads.XXXX)
server=""
trap '[ -n "$server" ] && kill -TERM $server 2>/dev/null; wait 2>/dev/null; rm -rf "$data" "$data.kek"' EXIT

export OTINISH_TOKEN=$("$bin" token create --data "$data" --role operator --label bench 2>/dev/null)
auditor=$("$bin" token create --data "$data" --role auditor --label bench 2>/dev/null)
"$bin" keys generate --out "$data.kek" --data "$data" >/dev/null
"$bin" serve --data "$data" --listen "127.0.0.1:$port" --no-access-log --kek "file:$data.kek" \
  >"$data/serve.out" 2>"$data/serve.err" &
server=$!
for _ in $(seq 100); do grep -q listening "$data/serve.out" 2>/dev/null && break; sleep 0.1; done

# 500 appeals of 500 applicants to read.
export OTINISH_IDS_FILE="$data/ids"
for i in $(seq 500); do
  curl -s -X POST "http://127.0.0.1:$port/v1/appeals" -H "Authorization: Bearer $OTINISH_TOKEN" \
    -H 'Content-Type: application/json' \
    -d "{\"centre\":\"SHY\",\"category\":\"complaint\",\"topic\":\"lifts.stuck\",\"channel\":\"phone\",\"location\":{\"district\":\"Abay\",\"street\":\"Tauke khan\"},\"text\":\"bench $i\",\"applicant\":{\"name\":\"Bench $i\",\"phone\":\"+7 700 $((1000000 + i))\",\"address\":\"Tauke khan 1, flat $i\"}}" |
    sed -n 's/.*"id":"\([^"]*\)".*/\1/p'
  echo
done | grep .  >"$OTINISH_IDS_FILE"
echo "registered $(wc -l <"$OTINISH_IDS_FILE") appeals ($(date -u +%F), $(nproc) cores, wrk -t2 -c$conns -d${secs}s)"

run() {
  local label=$1
  local out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$root/bench/api/get_appeal.lua" "http://127.0.0.1:$port")
  echo "== $label" >&2
  echo "$out" | grep -E "Requests/sec|Latency|99%|Non-2xx" >&2
  echo "$out" | awk '/Requests\/sec/ {print $2}'
}
# The machine's speed drifts by more than the cost measured (a plain read at 12,000 and 15,800 req/s a minute
# apart), so the two reads take turns: plain, audited, plain, ... and each audited round is compared with the
# mean of the plain rounds on either side of it. The median of those rounds is the figure.
plain=$(unset OTINISH_PURPOSE; run "GET /v1/appeals/{id}, round 0")
costs=()
for r in $(seq "$rounds"); do
  audited=$(OTINISH_PURPOSE="callback with the result" run "GET /v1/appeals/{id}/applicant (sealed, audited), round $r")
  next=$(unset OTINISH_PURPOSE; run "GET /v1/appeals/{id}, round $r")
  cost=$(awk -v a="$plain" -v c="$next" -v b="$audited" 'BEGIN { printf "%.1f", 100 * (1 - b / ((a + c) / 2)) }')
  echo "round $r: audited read $audited req/s between plain reads at $plain and $next: costs $cost%"
  costs+=("$cost")
  plain=$next
done
printf '%s\n' "${costs[@]}" | sort -g | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
  printf "the audited read costs %.1f%% of the plain read'"'"'s throughput (median of %d rounds, from %.1f%% to %.1f%%; goal <= 10%%)\n", m, NR, v[1], v[NR] }'
sleep 0.5
id=$(head -1 "$OTINISH_IDS_FILE")
n=$(curl -s "http://127.0.0.1:$port/v1/appeals/$id/access-log" -H "Authorization: Bearer $auditor" | grep -o '"purpose"' | wc -l)
echo "access log of $id holds $n reads (the log holds one PersonalDataRead per audited request)"
