#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the demo, then open its data in the console.
#
# After the simulated month, the demo's data directory gets a token per desk and the console's address is
# printed. Run from a terminal, the server then serves the console on that data until Ctrl+C; run from a
# script (no terminal on stdin), it prints the command that would serve it and ends. OTINISH_DEMO_SERVE=1 or 0
# forces either.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh"
build=${OTINISH_BUILD_DIR:-$root/build}
OTINISH_TARGETS="otinish_city_demo otinish" OTINISH_BUILD_DIR=$build bash "$root/scripts/build.sh"
data=$(mktemp -d -t otinish-demo-XXXXXX)/data
"$build/examples/otinish_city_demo" --source "$root" --data "$data" "$@"

otinish=$build/api/otinish
listen=${OTINISH_DEMO_LISTEN:-127.0.0.1:8109}
echo
echo "== Console =="
echo "Open http://$listen/console/ and sign in with one of these tokens (each is shown only now):"
for desk in operator inspector controller admin auditor public; do
  printf '  %-11s %s\n' "$desk" "$("$otinish" token create --data "$data" --role "$desk" --label demo 2>/dev/null | tail -1)"
done
printf '  %-11s %s\n' "agency" "$("$otinish" token create --data "$data" --role agency --agency heat_supply --label demo 2>/dev/null | tail -1) (heat_supply's queue)"
serve=("$otinish" serve --data "$data" --listen "$listen" --kek "file:$data.kek" --no-access-log
       --catalogue "$root/examples/catalogue" --calendar "$root/examples/calendars/kz.yaml"
       --calendar "$root/examples/calendars/shymkent.yaml" --calendar "$root/examples/calendars/round-the-clock.yaml"
       --rules "$root/examples/rules/city.yaml")
if [ "${OTINISH_DEMO_SERVE:-$([ -t 0 ] && echo 1 || echo 0)}" = 1 ]; then
  echo "Serving the demo's data; Ctrl+C stops the server."
  exec "${serve[@]}"
fi
echo "To serve it: ${serve[*]}"
