#!/usr/bin/env bash
# The city demo with its log on a three-server JetStream cluster started for it (scripts/nats-cluster.sh):
# three days of Turkestan, verified, an applicant erased, a checkpoint signed and an evidence bundle verified.
#   demo_on_jetstream.sh DEMO_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
demo=$1; src=$2; work=$3
rm -rf "$work"; mkdir -p "$work"
trap 'bash "$src/scripts/nats-cluster.sh" stop "$work/cluster"' EXIT
# Ports from this shell's pid, apart from the other tests' clusters.
urls=$(bash "$src/scripts/nats-cluster.sh" start "$work/cluster" $((10000 + ($$ % 2000) * 3)))
"$demo" --no-progress --days 3 --data "$work/data" --source "$src" --store "$urls"
