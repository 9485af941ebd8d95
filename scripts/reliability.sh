#!/usr/bin/env bash
# Regenerates the figures of docs/reliability.md: the crash campaign, the injected disk faults, the fuzzing
# runs and the sanitizer suite, each with the command that produced it. Long: about 2 hours with the defaults.
#   scripts/reliability.sh [ROUNDS [FUZZ_SECONDS]]      defaults: 1000 rounds, 600 s per fuzz target
# Environment: OTINISH_CAMPAIGN_REPORT=FILE uses a campaign already run (its --report JSON) instead of running
# one; OTINISH_SKIP_SANITIZERS=1 and OTINISH_SKIP_FUZZ=1 leave those parts as they are in the document.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-1000}
fuzz_seconds=${2:-600}
build=${OTINISH_BUILD_DIR:-$root/build}
out=$(mktemp -d /tmp/otinish-reliability.XXXXXX)
bash "$root/scripts/install-deps.sh" test
OTINISH_BUILD_DIR=$build bash "$root/scripts/build.sh"

# 1. Injected disk faults (the fault-injecting file system, then a real full tmpfs).
OTINISH_SOURCE_DIR=$root "$build/tests/store/store_fault_test" --gtest_repeat=10 | grep '^FAULT|' > "$out/faults.txt"
/usr/bin/python3 "$root/tests/crash/disk_full.py" --otinish "$build/api/otinish" --source "$root" \
  | grep '^FAULT|' >> "$out/faults.txt" || echo "FAULT|a real full disk (tmpfs)|0|0|0|not run: no tmpfs could be mounted (needs root)" >> "$out/faults.txt"

# 2. The crash campaign.
if [ -n "${OTINISH_CAMPAIGN_REPORT:-}" ]; then
  cp "$OTINISH_CAMPAIGN_REPORT" "$out/campaign.json"
else
  /usr/bin/python3 "$root/tests/crash/campaign.py" --otinish "$build/api/otinish" --source "$root" \
    --rounds "$rounds" --desks 3 --max-seconds 1.0 --sample 50 --report "$out/campaign.json"
fi

# 3. Fuzzing: every target for FUZZ_SECONDS (scripts/fuzz.sh prints its table).
if [ "${OTINISH_SKIP_FUZZ:-0}" != 1 ] && [ -x "$root/scripts/fuzz.sh" ]; then
  bash "$root/scripts/fuzz.sh" "$fuzz_seconds" | tee "$out/fuzz.txt"
fi

# 4. The sanitizer suite.
if [ "${OTINISH_SKIP_SANITIZERS:-0}" != 1 ]; then
  start=$SECONDS
  OTINISH_SANITIZE=only bash "$root/scripts/test.sh" > "$out/sanitizers.log" 2>&1 && status=passed || status=FAILED
  grep -E 'tests passed|tests failed' "$out/sanitizers.log" | tail -1 > "$out/sanitizers.txt" || true
  echo "$status in $((SECONDS - start)) s" >> "$out/sanitizers.txt"
fi

/usr/bin/python3 "$root/scripts/reliability_report.py" --dir "$out" --doc "$root/docs/reliability.md"
echo "docs/reliability.md updated from $out"
