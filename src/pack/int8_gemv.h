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
// group): tq (n_blocks, 16), st (n_groups).
void build_int8_tables(const PackedLinear& L, const float* xp, int8_t* tq, float* st);

// The kernel's code layout ("tiles"), so that it loads its lookup indices
// straight from memory instead of transposing 16 rows of bit planes per
// lookup (the transpose and its register spills were most of its work).
// A 16-row block i (rows 16i..16i+15, i < rows / 16) starts at byte
// 16 i row_bytes, its groups in order, group g at 16 goff[g]; a group's
// planes (b of pb bytes) are cut in chunks of kc = min(16, pb - o) bytes at
// o = 0, 16, ...; per chunk, for each plane pair (j, j + 1), j even, j + 1 < b:
//   kc vectors of 32 bytes; vector k: byte 2r + p = row r's plane j + p at
//   byte o + k (r < 8), byte 16 + 2r + p = the same for row 8 + r;
// then, for odd b, the last plane: kc vectors of 16 bytes; vector k: byte
// r = row r's plane b - 1 at byte o + k.
// Every code byte of the block appears once: out (rows / 16 * 16, row_bytes).
void build_int8_tiles(const PackedLinear& L, uint8_t* out);

// y (T, rows) = x (T, cols) Wᵀ through the int8 tables, scalar: per row and
// group the integer Σ_j 2^j Σ_n tq[n][nibble of plane j], times scale·st
// (2 scale·st for 1-bit groups), plus the exact shift term (-scale zero, or
// mean - scale) times the fp32 group sum of x.
void matmul_reference_int8(const PackedLinear& L, const float* x, float* y, int64_t T);

}  // namespace slim::pack_detail
