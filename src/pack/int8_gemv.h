// The approximate (int8) decode GEMV's scalar side: its subset-sum tables
// (T-MAC style: quantized per group to int8) and its scalar reference.
// The x86 kernel (packed_gemv_int8_avx2-inl.h, AVX2 and AVX3) looks the same tables up with
// vpshufb and sums the same integers, so its result equals
// matmul_reference_int8() up to fp32 summation order. Against the exact
// product (matmul_reference) it differs by the rounding of the tables: per
// 4-column block lookup at most st_g / 2, st_g = max |subset sum| / 127 of
// the group (tests/packed_linear_test.cc bounds it; docs/RESULTS.md has the
// end-to-end perplexity effect).
#pragma once
#include <algorithm>
#include <cstdint>

#include "pack/packed_linear.h"

namespace slim::pack_detail {

// Tables of one token: for padded x (padded_columns()[G] floats, groups
// zero-padded to 16 columns), per 4-column block n its 16 subset sums
// Σ_{i: bit i of v} x[4n + i] rounded to int8 in units of st[g] (g = n's
// group): tq (n_blocks, 16) with block n at row int8_table_slot(n), st
// (n_groups).
void build_int8_tables(const PackedLinear& L, const float* xp, int8_t* tq, float* st);

// Where block n's 16 entries sit in tq: each aligned 4 blocks (16 columns;
// groups start on one) in the order 0, 2, 1, 3. Why: the lone-plane step
// looks up bytes k and k + 1 of a plane (blocks 2k, 2k + 2 by the low nibble,
// 2k + 1, 2k + 3 by the high one) in the two 128-bit lanes, and so loads its
// two tables as two whole 32-byte rows instead of four halves and two lane
// inserts; the pair step broadcasts 16-byte rows from anywhere alike.
inline int64_t int8_table_slot(int64_t n) { return (n & ~int64_t(3)) | ((n & 1) << 1) | ((n >> 1) & 1); }

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

// After the code tiles of all blocks (at byte 16 (rows / 16) row_bytes), each
// 16-row block's per-group numbers, transposed so that a group's 16 rows are
// contiguous: (G, 16) fp16 scales, (G, 16) uint8 zero points (0 at 1 bit),
// (n_onebit, 16) fp16 1-bit means; int8_meta_bytes(L) bytes a block, blocks in
// order: out (rows / 16, int8_meta_bytes(L)). Why: gathered per block from
// the (rows, G) arrays by 8x8 transposes, they were 22% of the kernel's time
// at avg2 and 40% at uni1 (perf, 1 thread hot); the copy is 3 bytes a row
// and group (5 at 1 bit), ~10% of the tiles at 2 bits, g128.
struct Int8Meta {
  int64_t start;                // where block 0's part starts in the tiles (after all code tiles)
  int64_t zeros, means, bytes;  // where the zeros and the means start in a block's part; its size
};
inline Int8Meta int8_meta_layout(const PackedLinear& L) {
  const int64_t G = L.n_groups();
  return {L.rows() / 16 * 16 * L.row_bytes(), 32 * G, 48 * G, 48 * G + 32 * L.n_onebit()};
}
inline int64_t int8_meta_bytes(const PackedLinear& L) { return int8_meta_layout(L).bytes; }
void build_int8_meta(const PackedLinear& L, uint8_t* out);

// The walk of that layout, shared by every builder (the scalar reference
// above, the AVX2 one by transposes), which differ only in how one chunk is
// transposed: per 16-row block, group and chunk,
//   pair(row, pb, j, o, kc, dst)  for each plane pair (j, j + 1): kc x 32 bytes at dst,
//   lone(row, pb, j, o, kc, dst)  for odd b, j = b - 1:            kc x 16 bytes at dst,
// where row[r] is row r's group (its plane j at row[r] + j pb).
template <class Pair, class Lone>
void for_each_int8_tile_chunk(const PackedLinear& L, uint8_t* out, const Pair& pair, const Lone& lone) {
  const int64_t G = L.n_groups(), rb = L.row_bytes(), nblk = L.rows() / 16;
  const auto gcol = L.group_columns();
  const auto goff = L.group_offsets();
  const uint8_t* codes = L.parts().codes.data();
#pragma omp parallel for schedule(static) if (nblk * rb >= (int64_t(1) << 16))
  for (int64_t i = 0; i < nblk; ++i) {
    uint8_t* o8 = out + 16 * i * rb;
    for (int64_t g = 0; g < G; ++g) {
      const int b = L.bits(g);
      const int64_t pb = plane_bytes(gcol[size_t(g + 1)] - gcol[size_t(g)]);
      const uint8_t* row[16];
      for (int r = 0; r < 16; ++r) row[r] = codes + (16 * i + r) * rb + goff[size_t(g)];
      for (int64_t o = 0; o < pb; o += 16) {
        const int64_t kc = std::min<int64_t>(16, pb - o);
        for (int j = 0; j + 1 < b; j += 2, o8 += 32 * kc) pair(row, pb, j, o, kc, o8);
        if (b % 2 == 1) {
          lone(row, pb, b - 1, o, kc, o8);
          o8 += 16 * kc;
        }
      }
    }
  }
}

// y (T, rows) = x (T, cols) Wᵀ through the int8 tables, scalar: per row and
// group the integer Σ_j 2^j Σ_n tq[n][nibble of plane j], times scale·st
// (2 scale·st for 1-bit groups), plus the exact shift term (-scale zero, or
// mean - scale) times the fp32 group sum of x.
void matmul_reference_int8(const PackedLinear& L, const float* x, float* y, int64_t T);

}  // namespace slim::pack_detail
