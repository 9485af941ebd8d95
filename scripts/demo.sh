#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh"
OTINISH_TARGETS=otinish_city_demo OTINISH_BUILD_DIR=${OTINISH_BUILD_DIR:-$root/build} bash "$root/scripts/build.sh"
exec "${OTINISH_BUILD_DIR:-$root/build}/examples/otinish_city_demo" --source "$root" "$@"
