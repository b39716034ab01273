#!/usr/bin/env bash
# Fetches and builds the llama.cpp peer for the side-by-side figures of issue 11
# (docs/RESULTS.md, "End to end: GENERATED model of TinyLlama-1.1B's shape vs llama.cpp").
# llama.cpp's source comes from the npm package node-llama-cpp (llama/gitRelease.bundle, a git bundle);
# everything lands OUTSIDE the repository, in $LLAMA_PEER (default /work/llama.cpp-peer): no llama.cpp code is
# ever committed here. Builds CPU-only, Release, AVX2 code only (the same ISA level as our `avx2` Highway
# target; the development machine also has AVX-512, which both sides are kept off), 2 jobs:
#   -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
#   -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF
#   -DGGML_OPENMP=ON -DGGML_BACKEND_DL=OFF -DBUILD_SHARED_LIBS=OFF, no CUDA/Vulkan/Metal/BLAS
# Targets: llama-bench, llama-quantize, llama-tokenize. Prints the commit it built (also in $LLAMA_PEER/COMMIT).
# Usage: scripts/llama_cpp.sh            (idempotent: reuses the tarball, the clone and the build dir)
set -euo pipefail
P=${LLAMA_PEER:-/work/llama.cpp-peer}
JOBS=${JOBS:-2}
case "$P" in "$(cd "$(dirname "$0")/.." && pwd)"*) echo "error: LLAMA_PEER=$P is inside the repository" >&2; exit 1;; esac
mkdir -p "$P"
cd "$P"
if ! ls node-llama-cpp-*.tgz >/dev/null 2>&1; then npm pack node-llama-cpp >/dev/null; fi
tgz=$(ls node-llama-cpp-*.tgz | sort -V | tail -1)
[[ -f package/llama/gitRelease.bundle ]] || tar xzf "$tgz" package/llama/
[[ -d llama.cpp/.git ]] || git clone -q package/llama/gitRelease.bundle llama.cpp
commit=$(git -C llama.cpp rev-parse HEAD)
tag=$(python3 -c "import json;print(json.load(open('package/llama/llama.cpp.info.json'))['tag'])" 2>/dev/null || echo "?")
echo "$tgz llama.cpp commit $commit (release $tag)" | tee COMMIT
cmake -S llama.cpp -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF \
  -DGGML_OPENMP=ON -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DBUILD_SHARED_LIBS=OFF \
  -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >build-config.log
cmake --build build -j "$JOBS" --target llama-bench llama-quantize llama-tokenize
ls -la build/bin/llama-bench build/bin/llama-quantize build/bin/llama-tokenize
