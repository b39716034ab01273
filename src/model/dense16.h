// Dense products on fp16 / bf16 weights read in place from the mapped
// checkpoint, so an unquantized model needs no fp32 copy of its weights.
//   decode (T < kDense16GemmMinTokens): a GEMV that widens each weight row to
//     fp32 in registers (Highway, runtime dispatch: AVX2, AVX-512, NEON);
//   prefill: row panels widened into a bounded per-thread scratch, then sgemm
//     on each panel (as the packed path does, pack/packed_matmul.cc).
// The scalar references below are what the kernels are tested against.
#pragma once
#include <cstdint>
#include <vector>

#include "model/tensor.h"

namespace slim {

// Tokens from which prefill takes the panel + sgemm path.
constexpr int64_t kDense16GemmMinTokens = 4;

// out (n) = the 16-bit values widened to fp32 (exact).
void dense16_to_f32(const uint16_t* src, ElemType type, int64_t n, float* out);

// y (T, ldy) = x (T, ldx) Wᵀ for a 16-bit W (rows, cols). Threads over rows.
void dense16_matmul(const Tensor& w, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy);

// The GEMV kernel alone, rows [r0, r1) of one token: y[r] = Σ_c W[r, c] x[c].
void dense16_gemv_rows(const uint16_t* w, ElemType type, int64_t cols, const float* x, float* y, int64_t r0,
                       int64_t r1);

// Scalar references: fp32 accumulation in column order.
void dense16_to_f32_reference(const uint16_t* src, ElemType type, int64_t n, float* out);
void dense16_gemv_reference(const uint16_t* w, ElemType type, int64_t rows, int64_t cols, const float* x, float* y);

// The Highway target the kernels dispatch to ("AVX2", "AVX3", "NEON", "SVE", ...).
const char* dense16_target();
// The compiled targets this CPU supports (tests run each through
// hwy::SetSupportedTargetsForTest).
std::vector<int64_t> dense16_targets();

}  // namespace slim
