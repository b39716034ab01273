#!/usr/bin/env bash
# A long run of one already-built fuzz target (scripts/fuzz.sh builds them), at low priority so
# that it can share the machine, with its CPU time measured (issue 14: a CPU-hour per target).
#   bash scripts/fuzz_long.sh TARGET SECONDS [CPU_SECONDS]
# With CPU_SECONDS the run also stops (SIGINT, libFuzzer's clean exit 72) once the fuzzer has
# used that much CPU time (user + sys), whatever the wall time: on a shared machine the wall
# limit alone leaves the CPU time to chance.
# Same flags, dictionary and corpora as scripts/fuzz.sh; -max_total_time counts wall time, so
# give it more seconds than the CPU time wanted on a shared machine. Never stop it with SIGSTOP:
# libFuzzer's per-input alarm counts wall time and reports the pause as a timeout.
# Log: build-fuzz/fuzz-long-TARGET.log; last line "fuzz_long: TARGET wall W s, user U s, sys S s, exit N".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t=${1:?target}
secs=${2:?seconds}
cpu_budget=${3:-0}
bdir=${SLIM_FUZZ_BUILD:-build-fuzz}
[ -x "$bdir/fuzz/$t" ] || { echo "fuzz_long: $bdir/fuzz/$t is not built (bash scripts/fuzz.sh $t 1 builds it)" >&2; exit 2; }
mkdir -p "$bdir/corpus/$t" "$bdir/artifacts/$t"
dict=(); [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="$root/fuzz/dict/$t.dict")
log="$root/$bdir/fuzz-long-$t.log"
# The targets write each input to a temporary file: on this VM's disk that left the fuzzers ~40% of
# their wall time in iowait; in memory (tmpfs) they ran at twice the CPU rate. A TMPDIR of the
# caller's own is kept.
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
cd "$bdir"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OMP_NUM_THREADS=1 \
  nice -n "${NICE:-19}" /usr/bin/time -f "fuzz_long: $t wall %e s, user %U s, sys %S s, exit %x" \
  "./fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="artifacts/$t/" "${dict[@]}" "corpus/$t" "$root/fuzz/corpus/$t" > "$log" 2>&1 &
timer=$!
if [ "$cpu_budget" -gt 0 ]; then
  tck=$(getconf CLK_TCK)
  while kill -0 "$timer" 2> /dev/null; do
    sleep 5
    f=$(pgrep -P "$timer" | head -n 1) || continue
    # Fields 14 and 15 of /proc/PID/stat (after the parenthesised name): utime, stime in ticks.
    used=$(sed 's/.*) //' "/proc/$f/stat" 2> /dev/null | awk -v t="$tck" '{ printf "%d", ($12 + $13) / t }') || continue
    [ -n "$used" ] && [ "$used" -ge "$cpu_budget" ] && { kill -INT "$f" 2> /dev/null; stopped=1; break; }
  done
fi
wait "$timer"
rc=$?
[ "${stopped:-0}" = 1 ] && [ "$rc" = 72 ] && rc=0  # our own SIGINT at the CPU budget
grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|SUMMARY|fuzz_long:)' "$log"
exit "$rc"
