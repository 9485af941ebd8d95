#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/apt-packages.txt (and, with `test`, scripts/apt-packages-test.txt)
# that are not installed yet. Safe to run again: it does nothing when everything is present. Needs root (or sudo).
#   bash scripts/install-deps.sh [test]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lists=("$here/apt-packages.txt")
[ "${1:-}" = test ] && lists+=("$here/apt-packages-test.txt")
mapfile -t wanted < <(cat "${lists[@]}" | grep -vE '^\s*(#|$)')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "otinish: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
