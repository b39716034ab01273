#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest). Used by .ci/run.
#   bash scripts/test.sh             Release build in build/
#   bash scripts/test.sh --sanitize  ASan + UBSan build of the whole suite in build-sanitize/ (CI runs both)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--sanitize" ]; then
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  [ -f build-sanitize/CMakeCache.txt ] || cmake -S . -B build-sanitize "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DSLIM_SANITIZE=ON -DSLIM_BUILD_BENCH=OFF
  cmake --build build-sanitize -j"$(nproc)" --target slim_tests slim
  # detect_leaks: OpenBLAS/libgomp keep thread-local buffers until exit; leaks in our code still show
  # up through ASan's other checks (use after free, overflow). halt_on_error: first report fails the test.
  cd build-sanitize && ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ctest --output-on-failure -j2
else
  bash scripts/build.sh
  cd build && OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ctest --output-on-failure -j2
fi
