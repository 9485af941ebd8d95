#!/usr/bin/env bash
# Durable appends: otinish's store against PostgreSQL used as an event store, measured in the same run.
#   bash bench/store/run.sh [seconds-per-step]      (needs root or sudo for apt-get; installs postgresql)
# Prints our table (with CPU per event and the kernel's floor), the peer's figure, and at 32 writers the ratio
# against the peer and the share of the disk's ceiling. Not a test: figures, no assertions.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
peer="$root/../shared/peers/postgres-event-store/run.sh"
bash "$root/scripts/install-deps.sh"
sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed" ||
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
OTINISH_TARGETS=otinish_store_bench bash "$root/scripts/build.sh" >/dev/null
echo "== otinish store ($(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
ours=$("$root/build/bench/store/otinish_store_bench" --seconds "$secs")
echo "$ours"
echo "== peer: PostgreSQL 15 event store, 32 clients, $secs s"
if [ -x "$peer" ] || [ -f "$peer" ]; then
  pg=$($sudo bash "$peer" 32 "$secs")
  echo "$pg"
  pg_tps=$(echo "$pg" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  our32=$(echo "$ours" | awk '$1=="otinish" && $3==32 {print $4}')
  if [ -n "$pg_tps" ] && [ -n "$our32" ]; then
    awk -v a="$our32" -v b="$pg_tps" 'BEGIN { printf "ratio at 32 writers: otinish %.0f / postgres %.0f = %.1fx (goal >= 4x)\n", a, b, a / b }'
    ceil32=$(echo "$ours" | awk '$1=="ceiling" && $5==32 {print $6}')
    [ -n "$ceil32" ] && awk -v a="$our32" -v c="$ceil32" 'BEGIN { printf "share of the ceiling at 32 writers: %.0f / %.0f = %.0f%% (goal >= 50%%)\n", a, c, 100 * a / c }'
  fi
else
  echo "peer script not found at $peer"
fi
