#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds examples/embed as a separate CMake project against
# that prefix alone (find_package(otinish)) and runs it; and builds a small program through pkg-config.
# What an integrator does; fails if a header, a library, a dependency or the package files are missing.
#   package_install_embed.sh BUILD_DIR SOURCE_DIR WORK_DIR [EXTRA_FLAGS]
# EXTRA_FLAGS are given to the consumer's compiler and linker: a build with the sanitizers installs libraries that
# need the sanitizers' runtime, as any consumer of such a build must link it.
set -euo pipefail
build=$1 src=$2 work=$3 extra=${4:-}
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
# On a failure, show what the quiet steps wrote.
trap 'rc=$?; if [ $rc -ne 0 ]; then for f in "$work"/*.log; do echo "--- $f"; tail -n 40 "$f"; done; fi' EXIT

# The library's component alone (the build may also hold the package's absolute paths: /etc, the unit).
cmake --install "$build" --prefix "$prefix" --component dev >"$work/install.log"
for f in include/otinish/store/event_store.h include/otinish/engine/engine.h include/otinish/common/version.h; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f is not installed"; exit 1; }
done
[ -n "$(find "$prefix" -name otinishConfig.cmake)" ] || { echo "FAIL: otinishConfig.cmake is not installed"; exit 1; }
pc=$(find "$prefix" -name otinish.pc)
[ -n "$pc" ] || { echo "FAIL: otinish.pc is not installed"; exit 1; }

# The CMake package, from a project that knows nothing of the source tree.
cp -r "$src/examples/embed" "$work/embed-src"
cmake -S "$work/embed-src" -B "$work/embed-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >"$work/configure.log"
cmake --build "$work/embed-build" >"$work/build.log"
"$work/embed-build/otinish_embed_example" "$work/embed-data" "$src"

# A version 0.1 project must not accept another minor version before 1.0 (semantic versioning).
cat >"$work/wrong-version.cmake" <<'CMAKE'
find_package(otinish 0.99 CONFIG QUIET)
if(otinish_FOUND)
  message(FATAL_ERROR "find_package(otinish 0.99) accepted the installed version")
endif()
CMAKE
cmake -DCMAKE_PREFIX_PATH="$prefix" -P "$work/wrong-version.cmake"

# pkg-config: a program that prints the version and opens a log.
cat >"$work/pc.cc" <<'CC'
#include <cstdio>
#include "common/version.h"
#include "store/rocks_store.h"
int main(int, char** argv) {
  auto log = otinish::store::open_rocks_store(argv[1], {});
  std::printf("otinish %s, log %s\n", otinish::kVersionString, log.ok() ? "open" : log.status().ToString().c_str());
  return log.ok() ? 0 : 1;
}
CC
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs otinish)
# shellcheck disable=SC2086
g++ $extra "$work/pc.cc" -o "$work/pc" $flags
"$work/pc" "$work/pc-log"
echo "PACKAGE_INSTALL_EMBED_OK"
