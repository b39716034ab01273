// The approximate (int8) decode GEMV's scalar side: its subset-sum tables
// (T-MAC style: quantized per group to int8) and its scalar reference.
// The AVX2 kernel (packed_gemv_int8_avx2-inl.h) looks the same tables up with
// vpshufb and sums the same integers, so its result equals
// matmul_reference_int8() up to fp32 summation order. Against the exact
// product (matmul_reference) it differs by the rounding of the tables: per
// 4-column block lookup at most st_g / 2, st_g = max |subset sum| / 127 of
// the group (tests/packed_linear_test.cc bounds it; docs/RESULTS.md has the
// end-to-end perplexity effect).
#pragma once
#include <cstdint>

#include "pack/packed_linear.h"

namespace slim::pack_detail {

// Tables of one token: for padded x (padded_columns()[G] floats, groups
// zero-padded to 16 columns), per 4-column block n its 16 subset sums
// Σ_{i: bit i of v} x[4n + i] rounded to int8 in units of st[g] (g = n's
// group): tq (n_blocks + kInt8TablePad, 16), the pad blocks zero (the kernel
// reads up to 32 blocks past a partial 128-column chunk, always at index 0).
// st (n_groups).
inline constexpr int64_t kInt8TablePad = 32;
void build_int8_tables(const PackedLinear& L, const float* xp, int8_t* tq, float* st);

// y (T, rows) = x (T, cols) Wᵀ through the int8 tables, scalar: per row and
// group the integer Σ_j 2^j Σ_n tq[n][nibble of plane j], times scale·st
// (2 scale·st for 1-bit groups), plus the exact shift term (-scale zero, or
// mean - scale) times the fp32 group sum of x.
void matmul_reference_int8(const PackedLinear& L, const float* x, float* y, int64_t T);

}  // namespace slim::pack_detail
