#!/usr/bin/env bash
# The crash campaign (tests/crash/campaign.py): N rounds of a random workload, SIGKILL, restart and checks.
#   tests/crash/campaign.sh N [BUILD_DIR]        e.g. tests/crash/campaign.sh 1000 build
# CI runs 20 rounds (CTest crash_campaign); docs/reliability.md records the last long run (scripts/reliability.sh).
set -euo pipefail
rounds=${1:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build}
exec /usr/bin/python3 "$root/tests/crash/campaign.py" --otinish "$build/api/otinish" --source "$root" \
  --rounds "$rounds" ${OTINISH_CAMPAIGN_SEED:+--seed "$OTINISH_CAMPAIGN_SEED"} ${OTINISH_CAMPAIGN_REPORT:+--report "$OTINISH_CAMPAIGN_REPORT"}
