// The approximate (int8) prefill GEMM's scalar side: activations quantized
// per token and group to int8, the weights' integer codes as unsigned bytes,
// integer dot products per group, and the group's scale and shift applied in
// fp32 afterwards. The AVX2 kernel (packed_gemm_int8_avx2-inl.h) computes the
// same integers with vpmaddubsw and the same fp32 operations in the same
// order, so it equals matmul_reference_gemm_int8() bit for bit.
//
// Why: the exact prefill (dequantize a panel to fp32, then sgemm) is bound by
// sgemm's 8 multiply-adds per FMA instruction; vpmaddubsw does 32 u8 x s8
// products (16 pairs summed) per instruction, as llama.cpp's k-quant dot
// products do with Q8_K activations. Only layers whose groups are all 1-4
// bits take it (codes <= 15 keep eight summed vpmaddubsw pairs inside int16:
// 8 x 2 x 15 x 127 = 30480 < 32767).
//
// Against the exact product it differs by the activations' rounding: per
// element |x - sx q| <= sx / 2, sx = max |x| / 127 over the token's group, so
// |y - y_exact| <= Σ_k |W[r,k]| sx(t, group of k) / 2 plus fp32 rounding
// (tests/packed_linear_test.cc checks that bound; docs/RESULTS.md has the
// end-to-end perplexity effect).
#pragma once
#include <cstdint>

#include "pack/packed_linear.h"

namespace slim::pack_detail {

// Rows of a code block: one 32-byte vector holds 4 columns of 8 rows.
inline constexpr int64_t kGemmRows = 8;
// Tokens a kernel call computes together (they share each loaded code vector).
inline constexpr int64_t kGemmTokens = 4;

// Whether every group of L has 1..4 bits (the int8 GEMM's condition).
bool gemm_int8_bits_fit(const PackedLinear& L);

// One token's activations over L's padded columns (padded_columns(): groups
// zero-padded to 16 columns): xq (padded_columns()[G]) int8 in [-127, 127],
// sx (G) the group's scale max|x| / 127, ssx (G) = sx * Σ xq over the group.
// x is the token's row of cols values. A group of zeros has sx 0 and xq 0; a
// group with a NaN or infinite value has xq 0 and sx NaN or inf, so the
// product is not finite either, as in fp32.
void quantize_gemm_acts(const PackedLinear& L, const float* x, int8_t* xq, float* sx, float* ssx);

// Per row r and group g, the fp32 coefficients of the integer sums:
// Σ_{k in g} W[r,k] x[k] ~= A Σ q x + B Σ x with A = scale, B = -scale zero
// (b >= 2) or A = 2 scale, B = mean - scale (1 bit): a[g * stride],
// b[g * stride] for g < G.
void gemm_coefs(const PackedLinear& L, int64_t r, float* a, float* b, int64_t stride);

// A code block: rows r0..r0+7 (rows past L.rows() are zero) over the padded
// columns, quad n = columns 4n..4n+3 at bytes 32 n .. 32 n + 31, byte 4 i + c
// = the code of row r0 + i, column 4n + c (zero in padding): out
// (padded_columns()[G] / 4 quads, 32 bytes). And the block's coefficients:
// a, b (G, 8), zero for rows past L.rows().
void build_gemm_block(const PackedLinear& L, int64_t r0, uint8_t* out, float* a, float* b);

// y (T, rows) = x (T, cols) Wᵀ the int8 way, scalar: per token, row and
// group acc = Σ q xq (int32), then, groups in order, in fp32:
// y = fma(A, float(acc) * sx, y); y = fma(B, ssx, y), from y = 0.
void matmul_reference_gemm_int8(const PackedLinear& L, const float* x, float* y, int64_t T);

}  // namespace slim::pack_detail
