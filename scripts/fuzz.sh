#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and runs them on their
# committed seed corpora (fuzz/corpus/TARGET).
#   bash scripts/fuzz.sh                  every target, 30 s each
#   bash scripts/fuzz.sh TARGET [SECONDS] one target (fuzz_safetensors, fuzz_hf_config, ...) or a
#                                         comma-separated list of them
#   SLIM_FUZZ_BUILD=DIR                   build directory instead of build-fuzz
# New inputs that grow coverage go to build-fuzz/corpus/TARGET (not the committed seeds);
# a crash, leak, timeout or OOM leaves its input in build-fuzz/artifacts/TARGET/ and makes this
# script fail (remove the file once the defect is fixed and the input is a seed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# clang, its libFuzzer/sanitizer runtimes and its OpenMP runtime (Debian), only for this script.
fuzz_pkgs=(clang libclang-rt-14-dev libomp-14-dev)
for p in "${fuzz_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${fuzz_pkgs[@]}"
  break
done
bdir=${SLIM_FUZZ_BUILD:-build-fuzz}  # the build directory (relative to the project root)
target=${1:-all}
seconds=${2:-30}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[ -f "$bdir/CMakeCache.txt" ] || cmake -S . -B "$bdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DSLIM_FUZZ=ON -DSLIM_BUILD_TESTS=OFF -DSLIM_BUILD_BENCH=OFF
targets=()
if [ "$target" = all ]; then
  for f in fuzz/fuzz_*.cc; do targets+=("$(basename "$f" .cc)"); done
else
  IFS=, read -r -a targets <<< "$target"  # one target or a comma-separated list
fi
cmake --build "$bdir" -j"$(nproc)" --target "${targets[@]}"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1
for t in "${targets[@]}"; do
  mkdir -p "$bdir/corpus/$t" "$bdir/artifacts/$t"
  dict=(); [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="$root/fuzz/dict/$t.dict")
  echo "fuzz: $t for ${seconds}s"
  rc=0
  (cd "$bdir" && "./fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
     -print_final_stats=1 -artifact_prefix="artifacts/$t/" "${dict[@]}" "corpus/$t" "$root/fuzz/corpus/$t" \
     > "fuzz-$t.log" 2>&1) || rc=$?
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|SUMMARY)' \
    "$bdir/fuzz-$t.log" || true
  # libFuzzer exits non-zero on a crash, leak, timeout or OOM and writes the input to artifacts/.
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$bdir/artifacts/$t")" ]; then
    echo "fuzz: $t failed (exit $rc); log $bdir/fuzz-$t.log, inputs:"
    ls "$bdir/artifacts/$t"
    exit 1
  fi
done
echo "fuzz: no crash, leak or timeout"
