#!/usr/bin/env bash
# HTTP registrations: otinish serve under wrk (a Lua script posting new appeals), and in the same run the
# machine's HTTP ceiling (nginx returning a fixed body, ../shared/peers/nginx-http-ceiling/run.sh).
#   bash bench/api/run.sh [connections] [seconds]          (installs wrk and nginx with apt when missing)
# Prints, from one run, the three ratios the HTTP goals are stated in:
#   - the HTTP layer alone (registrations refused by validation, bench/api/post_invalid.lua) against nginx
#     (goal >= 0.5);
#   - durable registrations (every 201 is durable: answered only after the group commit's fsync) against the
#     store alone appending the same two events per appeal at the same concurrency (otinish_store_bench
#     --events-per-call 2; goal >= 0.5);
#   - the registrations' p99 at this many connections (goal < 10 ms);
# the same for commands on the appeals registered (a comment each, bench/api/post_command.lua); and with the
# city's SLA rules: the SLA service's lag during the run, how long after it the lag is back to 0,
# and the server's resident memory. Not a test: figures, no assertions.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
conns=${1:-64}
secs=${2:-10}
peer="$root/../shared/peers/nginx-http-ceiling/run.sh"
sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
for pkg in wrk nginx; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
done
build=${OTINISH_BUILD_DIR:-$root/build}
if [ ! -x "$build/api/otinish" ]; then
  OTINISH_TARGETS=otinish bash "$root/scripts/build.sh" >/dev/null
fi
bin="$build/api/otinish"

port=18109
data=""
# The server's threads' CPU times (tid, name, user + system clock ticks), and what each kind of thread (the
# names otinish gives its threads: otinish-io, otinish-worker, otinish-logsync, ...) spent per request between
# two such snapshots: where a registration's CPU goes. Threads born meanwhile count from 0.
cpu_snapshot() {
  for t in /proc/"$server"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm" 2>/dev/null)" \
      "$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"
  done 2>/dev/null
}
cpu_per_request() {  # BEFORE AFTER REQUESTS LABEL
  awk -v n="$3" -v hz="$(getconf CLK_TCK)" -v label="$4" '
    NR == FNR { before[$1] = $3; next }
    { spent = $3 - before[$1]; cpu[$2] += spent; threads[$2]++; total += spent }
    END {
      if (n <= 0) exit
      printf "server CPU per %s, by thread: %.0f us in all\n", label, total * 1e6 / hz / n
      fflush()
      sort = "sort -k4 -rn"
      for (k in cpu) if (cpu[k] > 0) printf "  %-16s %3d threads %7.1f us\n", k, threads[k], cpu[k] * 1e6 / hz / n | sort
      close(sort)
    }' "$1" "$2"
}
server=""
trap '[ -n "$server" ] && kill -TERM $server 2>/dev/null; wait 2>/dev/null; [ -n "$data" ] && rm -rf "$data"' EXIT
# run_ours LABEL [serve flags...]: a fresh data directory, serve, wrk; prints wrk's figures and sets $ours.
run_ours() {
  local label=$1; shift
  data=$(mktemp -d /tmp/otinish-bench.XXXX)
  export OTINISH_TOKEN=$("$bin" token create --data "$data" --role operator --label bench 2>/dev/null)
  local admin
  admin=$("$bin" token create --data "$data" --role admin --label bench-metrics 2>/dev/null)
  "$bin" keys generate --out "$data.kek" --data "$data" >/dev/null
  "$bin" serve --data "$data" --listen "127.0.0.1:$port" --no-access-log --kek "file:$data.kek" "$@" \
    >"$data/serve.out" 2>"$data/serve.err" &
  server=$!
  for _ in $(seq 100); do grep -q listening "$data/serve.out" 2>/dev/null && break; sleep 0.1; done
  echo "== otinish ($label): POST /v1/appeals, wrk -t2 -c$conns -d${secs}s ($(date -u +%F), $(nproc) cores)"
  # The SLA service's lag (otinish_sla_lag_events: log events it has not handled yet), sampled during the run.
  lag() { curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/metrics" |
            awk '/^otinish_sla_lag_events / {printf "%d\n", $2}'; }
  (while :; do lag; sleep 0.2; done) >"$data/lag.txt" 2>/dev/null &
  local sampler=$!
  cpu_snapshot >"$data/cpu0"
  ours=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$root/bench/api/post_appeal.lua" "http://127.0.0.1:$port")
  cpu_snapshot >"$data/cpu1"
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  echo "$ours" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
  cpu_per_request "$data/cpu0" "$data/cpu1" "$(echo "$ours" | awk '/requests in/ {print $1}')" registration
  if [ "${with_commands:-0}" = 1 ]; then
    # Commands on the appeals just registered: a comment each, durable before its 200.
    echo "== commands: POST /v1/appeals/{id}/comment on the first 1,000 appeals, wrk -t2 -c$conns -d${secs}s"
    commands=$(BENCH_YEAR=$(date -u -d '+5 hours' +%Y) BENCH_APPEALS=1000 \
      wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$root/bench/api/post_command.lua" "http://127.0.0.1:$port")
    echo "$commands" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|otinish commands"
  fi
  if [ "${with_invalid:-0}" = 1 ]; then
    echo "== the HTTP layer alone: POST /v1/appeals refused by validation (422), wrk -t2 -c$conns -d${secs}s"
    cpu_snapshot >"$data/cpu0"
    invalid=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$root/bench/api/post_invalid.lua" "http://127.0.0.1:$port")
    cpu_snapshot >"$data/cpu1"
    echo "$invalid" | grep -E "Requests/sec|Latency|50%|99%"
    cpu_per_request "$data/cpu0" "$data/cpu1" "$(echo "$invalid" | awk '/requests in/ {print $1}')" "refused request"
  fi
  local at_end t0 caught
  at_end=$(lag); t0=$(date +%s.%N); caught=""
  for _ in $(seq 2400); do [ "$(lag)" = "0" ] && { caught=$(date +%s.%N); break; }; sleep 0.05; done
  sort -n "$data/lag.txt" | awk -v end="$at_end" -v t0="$t0" -v t1="$caught" '
    { v[NR] = $1 } END {
      if (NR == 0) exit
      printf "SLA lag during the run (events, every 0.2 s): p50 %d, p99 %d, max %d; at the end %d; ", v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))], v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))], v[NR], end
      if (t1 == "") print "not back to 0 within 120 s"; else printf "back to 0 in %.2f s (goal < 1 s)\n", t1 - t0 }'
  curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/metrics" |
    awk '/^otinish_sla_firing_lateness_seconds\{quantile="0.99"\}/ {printf "SLA firing lateness p99: %.3f s (goal < 1 s)\n", $2}
         /^otinish_sla_firing_lateness_seconds_count/ {printf "SLA timers fired: %d\n", $2}'
  echo "server resident memory after the run: $(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' /proc/$server/status)"
  local head
  head=$(curl -s "http://127.0.0.1:$port/healthz" | sed -n 's/.*"head_position":\([0-9]*\).*/\1/p')
  echo "log head position after the run: $head"
  kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=""
  rm -rf "$data" "$data.kek"; data=""
}

with_invalid=1 with_commands=1 run_ours "engine and views, no SLA rules"
ours_plain=$(echo "$ours" | awk '/Requests\/sec/ {print $2}')
p99_plain=$(echo "$ours" | awk '$1=="99%" {print $2}')
invalid_rps=$(echo "$invalid" | awk '/Requests\/sec/ {print $2}')
run_ours "with the city catalogue, calendars and SLA rules: the SLA service decides every new appeal" \
  --catalogue "$root/examples/catalogue" --calendar "$root/examples/calendars/kz.yaml" \
  --calendar "$root/examples/calendars/shymkent.yaml" --calendar "$root/examples/calendars/round-the-clock.yaml" \
  --rules "$root/examples/rules/city.yaml"
ours_sla=$(echo "$ours" | awk '/Requests\/sec/ {print $2}')

echo "== the store alone: the two events of a registration per append, $conns writers, ${secs} s"
store_bench="$build/bench/store/otinish_store_bench"
[ -x "$store_bench" ] || OTINISH_TARGETS=otinish_store_bench bash "$root/scripts/build.sh" >/dev/null
store_out=$("$store_bench" --writers "$conns" --events-per-call 2 --seconds "$secs" --merkle-rounds 0 --read-events 0)
echo "$store_out" | grep -E "^durable|^otinish store"
store_appends=$(echo "$store_out" | awk '$1=="otinish" && $2=="store" {print $4 / 2}')

echo "== peer: nginx HTTP ceiling, $conns connections, ${secs} s"
b=""
if [ -f "$peer" ]; then
  ngx=$($sudo bash "$peer" "$conns" "$secs")
  echo "$ngx"
  b=$(echo "$ngx" | awk '/Requests\/sec/ {print $2}')
else
  echo "peer script not found at $peer"
fi
echo "== the three ratios (one run)"
[ -n "$b" ] && awk -v a="$invalid_rps" -v b="$b" 'BEGIN { printf "1. the HTTP layer alone: refused registrations %.0f/s / nginx %.0f/s = %.3f (goal >= 0.5)\n", a, b, a / b }'
awk -v a="$ours_plain" -v s="$store_appends" 'BEGIN { printf "2. durable registrations %.0f/s / the store alone %.0f appends/s of 2 events = %.3f (goal >= 0.5)\n", a, s, a / s }'
echo "3. registrations' p99 at $conns connections (no SLA rules): $p99_plain (goal < 10 ms)"
echo "(commands on appeals, a comment each: $(echo "$commands" | awk '/Requests\/sec/ {printf "%.0f/s", $2}'), p99 $(echo "$commands" | awk '$1=="99%" {print $2}'))"
[ -n "$b" ] && awk -v a="$ours_plain" -v c="$ours_sla" -v b="$b" 'BEGIN { printf "(registrations against nginx: %.3f without SLA rules, %.3f with them)\n", a / b, c / b }'
exit 0
