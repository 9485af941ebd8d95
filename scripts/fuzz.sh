#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) and runs each for SECONDS (default 600), one after another, then
# prints a table: target, seconds run, executions, crashes, new corpus entries.
#   bash scripts/fuzz.sh [SECONDS]
# OTINISH_FUZZ_TARGETS="rules envelope" runs only those; OTINISH_BUILD_DIR as scripts/build.sh.
# Each run starts from the tree's seeds (tests/fuzz/corpus/<target>/) and writes what it finds under
# $OTINISH_BUILD_DIR/fuzz-runs/<time>/<target>/: new/ (new corpus entries, not copied into the tree),
# crash-*/leak-*/timeout-*/oom-* (inputs that failed: replay one with `<binary> FILE`), and log.txt.
# libFuzzer stops a target at its first crash; the table then says how long it ran.
set -euo pipefail
seconds=${1:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${OTINISH_BUILD_DIR:-$root/build}
targets=${OTINISH_FUZZ_TARGETS:-rules calendar envelope import_line http_body http_request}

OTINISH_BUILD_DIR=$build OTINISH_TARGETS=otinish_libfuzzer bash "$root/scripts/build.sh" -DOTINISH_FUZZ_QUICK=OFF
bin_dir=$build/tests/fuzz/libfuzzer
out=$build/fuzz-runs/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
# The HTTP targets open a node (a RocksDB log); in memory when possible, so that fsync does not set the pace.
tmp_base=/dev/shm
[ -w "$tmp_base" ] || tmp_base=$out

rows=()
for t in $targets; do
  dir=$out/$t
  mkdir -p "$dir/new"
  tmp=$(mktemp -d "$tmp_base/otinish-fuzz-$t-XXXXXX")
  start=$(date +%s)
  set +e
  (cd "$dir" && TMPDIR=$tmp OTINISH_SOURCE_DIR=$root "$bin_dir/${t}_fuzz" -max_total_time="$seconds" -timeout=20 \
      -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$dir/" new "$root/tests/fuzz/corpus/$t" \
      > "$dir/log.txt" 2>&1)
  status=$?
  set -e
  ran=$(( $(date +%s) - start ))
  rm -rf "$tmp"
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$dir/log.txt" | grep -o '[0-9]*$' || true)
  if [ -z "$execs" ]; then  # stopped by a crash: the last progress line's count
    execs=$(grep -o '^#[0-9]*' "$dir/log.txt" | tr -d '#' | sort -n | tail -1 || true)
  fi
  crashes=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="exit $status"; fi
  new=$(find "$dir/new" -type f | wc -l)
  rows+=("$t|$ran|${execs:-0}|$crashes|$new")
  echo "$t: ${ran} s, ${execs:-0} executions, crashes: $crashes, new corpus entries: $new ($dir)"
done

echo
echo "Fuzzing run $out, $seconds s per target, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf '| %-13s | %7s | %12s | %7s | %18s |\n' target seconds executions crashes "new corpus entries"
printf '|%s|%s|%s|%s|%s|\n' "---------------" "---------" "--------------" "---------" "--------------------"
for r in "${rows[@]}"; do
  IFS='|' read -r t s e c n <<<"$r"
  printf '| %-13s | %7s | %12s | %7s | %18s |\n' "$t" "$s" "$e" "$c" "$n"
done
