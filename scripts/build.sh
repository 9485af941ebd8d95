#!/usr/bin/env bash
# Configures and builds otinish into build/ (or $OTINISH_BUILD_DIR). Extra arguments go to cmake's configure.
# OTINISH_TARGETS="a b" builds only those targets; OTINISH_BUILD_TYPE=Release another build type (default
# RelWithDebInfo). Warnings are errors here (OTINISH_WERROR), as in CI; a plain `cmake` build leaves them warnings.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${OTINISH_BUILD_DIR:-$root/build}
# Configured as the Debian packages are (prefix /usr, the systemd unit and /etc/otinish among the install
# rules), so that the package test can run cpack on this build; an integrator's own `cmake` has neither.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${OTINISH_BUILD_TYPE:-RelWithDebInfo} -DOTINISH_WERROR=ON \
  -DCMAKE_INSTALL_PREFIX=/usr -DOTINISH_INSTALL_SERVICE=ON "$@" >/dev/null
targets=()
for t in ${OTINISH_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" --parallel "$(nproc)" "${targets[@]}"
