// Internal interface between PackedLinear's products (packed_matmul.cc) and
// the runtime-dispatched SIMD kernels (packed_kernels.cc, compiled once per
// Highway target: AVX2 and AVX3 = AVX-512 with the x86-64-v3 baseline).
#pragma once
#include <cstdint>
#include <vector>

#include "pack/packed_linear.h"

namespace slim::pack_detail {

// Input of the bit-plane GEMV: x prepared once per call.
struct GemvInput {
  const float* xp = nullptr;  // (T, xstride) x with every group zero-padded to 16 columns (padded_columns())
  int64_t xstride = 0;
  const float* xsum = nullptr;  // (T, n_groups) Σ x over each group
  int64_t T = 0;
};

// Rows a GEMV kernel call handles together (x loads shared, independent
// accumulators); callers split rows between threads in multiples of it.
inline constexpr int64_t kGemvRowBlock = 4;

// y[t, r] (row stride ldy) for rows r0..r1-1: the bit-plane GEMV.
void gemv_rows(const PackedLinear& L, const GemvInput& in, int64_t r0, int64_t r1, float* y, int64_t ldy);
// Dequantized rows r0..r1-1 into out (r1 - r0, cols), row stride ldo; bit
// identical to dequantize_rows_reference().
void dequantize(const PackedLinear& L, int64_t r0, int64_t r1, float* out, int64_t ldo);
// hwy::TargetName of the target the two functions above dispatch to.
const char* target_name();
// The targets this CPU supports among those compiled here (for the tests:
// hwy::SetSupportedTargetsForTest(t) then runs the kernels for target t).
std::vector<int64_t> compiled_targets();

}  // namespace slim::pack_detail
