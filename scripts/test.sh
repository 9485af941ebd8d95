#!/usr/bin/env bash
# The README's second command (and what CI runs): install what is missing, build, run every test; then build
# again with AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/) and run the suite there too. The two
# builds are of two build types: RelWithDebInfo (the default, optimised) and Debug (assertions on) for the
# sanitizers.
#   OTINISH_SANITIZE=0 scripts/test.sh      the normal suite only (a quicker local run)
#   OTINISH_SANITIZE=only scripts/test.sh   the sanitizer suite only
# Under the sanitizers the browser test, the crash campaign and the demo's whole month are left out (each is run
# by the normal suite; the first two drive the same server binary, and CityDemoTest runs the demo's engine under
# the sanitizers over six days); everything else, the disk-fault and crash tests included, runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh" test
sanitize=${OTINISH_SANITIZE:-1}
started=$SECONDS

if [ "$sanitize" != only ]; then
  build=${OTINISH_BUILD_DIR:-$root/build}
  OTINISH_BUILD_DIR=$build bash "$root/scripts/build.sh"
  (cd "$build" && ctest --output-on-failure --parallel "$(nproc)" --timeout 900)
  echo "test.sh: the suite passed ($((SECONDS - started)) s so far)"
fi

if [ "$sanitize" != 0 ]; then
  asan=${OTINISH_ASAN_BUILD_DIR:-$root/build-asan}
  OTINISH_BUILD_DIR=$asan OTINISH_BUILD_TYPE=Debug bash "$root/scripts/build.sh" -DOTINISH_SANITIZE=ON -DOTINISH_BUILD_BENCH=OFF
  # halt_on_error: the first report fails the test; detect_leaks stays on (LeakSanitizer).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_stack_use_after_return=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  (cd "$asan" && ctest --output-on-failure --parallel "$(nproc)" --timeout 900 -E '^(console_e2e|crash_campaign|examples_city_demo_month)$')
  echo "test.sh: the sanitizer suite passed ($((SECONDS - started)) s in all)"
fi
