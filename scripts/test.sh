#!/usr/bin/env bash
# The README's second command (and what CI runs): install what is missing, build, run every test.
#   OTINISH_SANITIZE=1 scripts/test.sh    runs the suite under AddressSanitizer and UBSan (build-asan/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh" test
if [ "${OTINISH_SANITIZE:-0}" = 1 ]; then
  build=${OTINISH_BUILD_DIR:-$root/build-asan}
  OTINISH_BUILD_DIR=$build bash "$root/scripts/build.sh" -DOTINISH_SANITIZE=ON -DOTINISH_BUILD_BENCH=OFF
else
  build=${OTINISH_BUILD_DIR:-$root/build}
  OTINISH_BUILD_DIR=$build bash "$root/scripts/build.sh"
fi
cd "$build"
exec ctest --output-on-failure --parallel "$(nproc)" --timeout 900
