#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest). Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build && OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ctest --output-on-failure -j2
