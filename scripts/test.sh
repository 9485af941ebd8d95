#!/usr/bin/env bash
# The README's second command (and what CI runs): install what is missing, then two builds: the optimised one
# (RelWithDebInfo, build/) and one with AddressSanitizer and UndefinedBehaviorSanitizer (Debug, assertions on,
# build-asan/). Every test is built and run once, in one of them:
#   - the sanitizer build runs the unit tests (GoogleTest, rapidcheck, the fuzz corpus replays), where they
#     check the most, and the tests that drive the programs, except those that mostly kill, wait or package
#     (the code they drive is the same, and the sanitizers see it in the other tests): the browser test, the
#     crash campaign and the kill tests, the demo's whole month (CityDemoTest runs the demo's engine under the
#     sanitizers over six days) and its run on JetStream, the package install (and the two engine nodes on a NATS
#     cluster, which tests/api/CMakeLists.txt leaves out of the sanitizer build);
#   - the optimised build builds everything else too (the benchmarks, the libFuzzer build) and runs the tests
#     that drive the programs: the examples, the crash tests, those above, the Debian package and the 15-second
#     fuzz runs.
#   OTINISH_SANITIZE=0 scripts/test.sh      the optimised build only, with every test (a quicker local run)
#   OTINISH_SANITIZE=only scripts/test.sh   the sanitizer build only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh" test
sanitize=${OTINISH_SANITIZE:-1}
started=$SECONDS

if [ "$sanitize" != only ]; then
  build=${OTINISH_BUILD_DIR:-$root/build}
  unit=ON; [ "$sanitize" = 0 ] || unit=OFF
  OTINISH_BUILD_DIR=$build bash "$root/scripts/build.sh" -DOTINISH_UNIT_TESTS=$unit -DOTINISH_FUZZ_QUICK=ON
  (cd "$build" && ctest --output-on-failure --parallel "$(nproc)" --timeout 900)
  echo "test.sh: the suite passed ($((SECONDS - started)) s so far)"
fi

if [ "$sanitize" != 0 ]; then
  asan=${OTINISH_ASAN_BUILD_DIR:-$root/build-asan}
  OTINISH_BUILD_DIR=$asan OTINISH_BUILD_TYPE=Debug bash "$root/scripts/build.sh" -DOTINISH_SANITIZE=ON -DOTINISH_BUILD_BENCH=OFF \
    -DOTINISH_UNIT_TESTS=ON
  # halt_on_error: the first report fails the test; detect_leaks stays on (LeakSanitizer).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_stack_use_after_return=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  (cd "$asan" && ctest --output-on-failure --parallel "$(nproc)" --timeout 900 \
    -E '^(console_e2e|crash_campaign|(Privacy)?CrashTest\..*|ProofCrash\..*|examples_city_demo_(month|jetstream)|examples_package_install_embed)$')
  echo "test.sh: the sanitizer suite passed ($((SECONDS - started)) s in all)"
fi
