#!/usr/bin/env bash
# Builds the Debian packages otinish_VERSION_ARCH.deb and libotinish-dev_VERSION_ARCH.deb into build-package/
# (or $OTINISH_BUILD_DIR): a Release build, without tests or benchmarks, then cpack. docs/packaging.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh"
build=${OTINISH_BUILD_DIR:-$root/build-package}
OTINISH_BUILD_DIR=$build OTINISH_BUILD_TYPE=Release bash "$root/scripts/build.sh" \
  -DOTINISH_BUILD_TESTS=OFF -DOTINISH_BUILD_BENCH=OFF
cpack --config "$build/CPackConfig.cmake" -B "$build"
ls "$build"/*.deb
