#!/usr/bin/env bash
# One fuzz target for a short time on its committed seeds (CTest fuzz.TARGET in the sanitizer
# build; see CMakeLists.txt): libFuzzer with comparison-guided mutation (-use_value_profile=1).
# New inputs go to a scratch corpus, never into the tree. A crash, leak, timeout or
# out-of-memory fails the test and keeps the input under fuzz-artifacts/TARGET/ in the build
# directory: reproduce with `build-sanitize/fuzz/TARGET FILE`.
#   smoke.sh TARGET_BINARY SOURCE_DIR SECONDS
set -uo pipefail
bin=$1 src=$2 seconds=$3
name=$(basename "$bin")
seeds="$src/fuzz/corpus/$name"
[ -d "$seeds" ] || { echo "FAIL: no seed corpus $seeds"; exit 1; }
dict=(); [ -f "$src/fuzz/dict/$name.dict" ] && dict=(-dict="$src/fuzz/dict/$name.dict")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$(dirname "$(dirname "$bin")")/fuzz-artifacts/$name"
mkdir -p "$work/corpus" "$artifacts"
rc=0
"$bin" -max_total_time="$seconds" -use_value_profile=1 -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$work/corpus" "$seeds" > "$work/log" 2>&1 || rc=$?
grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb|SUMMARY)' "$work/log"
if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
  tail -n 60 "$work/log"
  echo "FAIL: $name (exit $rc); inputs kept in $artifacts:"
  ls "$artifacts"
  exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
[ "${runs:-0}" -gt 0 ] || { tail -n 30 "$work/log"; echo "FAIL: $name ran no input"; exit 1; }
echo "ok: $name, $runs inputs in ${seconds}s"
