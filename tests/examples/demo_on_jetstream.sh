#!/usr/bin/env bash
# The city demo with its log on a three-server JetStream cluster started for it (scripts/nats-cluster.sh):
# three days of Turkestan, verified, an applicant erased, a checkpoint signed and an evidence bundle verified.
#   demo_on_jetstream.sh DEMO_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
demo=$1; src=$2; work=$3
rm -rf "$work"; mkdir -p "$work"
trap 'bash "$src/scripts/nats-cluster.sh" stop "$work/cluster"' EXIT
# Ports from this shell's pid, apart from the other tests' clusters; another base if one is taken (a server
# that cannot bind exits, and the start says so), as tests/store/nats_cluster.h does.
urls=""
for attempt in 0 1 2; do
  if urls=$(bash "$src/scripts/nats-cluster.sh" start "$work/cluster" $((10000 + (($$ * 7 + attempt * 331) % 2000) * 3))); then
    break
  fi
  bash "$src/scripts/nats-cluster.sh" stop "$work/cluster"
  rm -rf "$work/cluster"
  urls=""
done
[ -n "$urls" ] || { echo "demo_on_jetstream.sh: no cluster started after 3 tries" >&2; exit 1; }
"$demo" --no-progress --days 3 --data "$work/data" --source "$src" --store "$urls"
