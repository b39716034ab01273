// AVX-512 GEMV with one row per lane: 16 rows at a time, the group dot
// products by table lookup. Included by packed_kernels.cc once per Highway
// target, inside its namespace (no include guard on purpose); compiled for
// AVX3 only.
//
// Per call, each 4-column block n of x gets a table of its 16 subset sums,
// tab_n[v] = Σ_{i: bit i of v} x[4n + i]. A plane's 4 bits for the block are
// the index: vpermps looks up 16 rows' partial sums in one instruction, i.e.
// 64 weight-bits per op where a masked add does 16 (measured ~1.8x faster than
// the masked kernel on Zen 5, whose bottleneck was making masks). The lanes
// need the rows' nibbles side by side: 16 rows x 16 bytes of a plane are
// loaded and transposed as 4x4 dword blocks, which leaves lane L holding row
// 4 (L % 4) + L / 4 (kLaneRow); the per-group vectors are gathered in that
// order and the result is permuted back at the end (the map is an involution).
#if HWY_TARGET <= HWY_AVX3

constexpr int64_t kLutRows = 16;

inline __m512i lane_rows() { return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15); }

// tab (n4, 16) from padded x (n4 * 4): the subset sums of each 4-column block.
inline void build_subset_tables(const float* xp, int64_t n4, float* tab) {
  const __m512i v = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512 bit[4];
  for (int i = 0; i < 4; ++i)
    bit[i] = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, unsigned(i)), _mm512_set1_epi32(1)));
  for (int64_t n = 0; n < n4; ++n) {
    __m512 s = _mm512_mul_ps(bit[0], _mm512_set1_ps(xp[4 * n]));
    for (int i = 1; i < 4; ++i) s = _mm512_fmadd_ps(bit[i], _mm512_set1_ps(xp[4 * n + i]), s);
    _mm512_storeu_ps(tab + 16 * n, s);
  }
}

// Rows p, p + rb, p + 2 rb, p + 3 rb: 16 bytes each, one per 128-bit block.
inline __m512i load_4x16(const uint8_t* p, int64_t rb) {
  __m512i a = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  a = _mm512_inserti32x4(a, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + rb)), 1);
  a = _mm512_inserti32x4(a, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * rb)), 2);
  return _mm512_inserti32x4(a, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 3 * rb)), 3);
}

// acc[t][n % K] += c * tab[block0 + n][index nibble n of w], for nibbles
// 0..NIB-1 (c = the rows' group factor times 2^J).
template <int TT, int K, int NIB>
HWY_INLINE void lookup_nibbles(__m512i w, __m512 c, const float* tab, int64_t tstride, int64_t block0,
                               __m512 (&acc)[TT][K]) {
  SLIM_UNROLL
  for (int n = 0; n < NIB; ++n) {
    const __m512i idx = n == 0 ? w : _mm512_srli_epi32(w, unsigned(4 * n));  // vpermps reads bits 0..3 only
    SLIM_UNROLL
    for (int t = 0; t < TT; ++t) {
      const __m512 v = _mm512_permutexvar_ps(idx, _mm512_loadu_ps(tab + t * tstride + 16 * (block0 + n)));
      acc[t][n % K] = _mm512_fmadd_ps(v, c, acc[t][n % K]);
    }
  }
}

// Plane J of one group for 16 rows (base: row 0's plane 0 of the group).
template <int J, int B, int TT, int K>
HWY_INLINE void lut_planes(const uint8_t* base, int64_t rb, int64_t pb, __m512 factor, const float* tab,
                           int64_t tstride, __m512 (&acc)[TT][K]) {
  if constexpr (J < B) {
    const uint8_t* p = base + J * pb;
    const __m512 coef = J == 0 ? factor : _mm512_mul_ps(factor, _mm512_set1_ps(float(1 << J)));
    int64_t o = 0;
    for (; o + 16 <= pb; o += 16) {  // 128 columns: a 4x4-dword-block transpose
      const __m512i a = load_4x16(p + o, rb), b = load_4x16(p + o + 4 * rb, rb);
      const __m512i c = load_4x16(p + o + 8 * rb, rb), d = load_4x16(p + o + 12 * rb, rb);
      const __m512i t0 = _mm512_unpacklo_epi32(a, b), t1 = _mm512_unpackhi_epi32(a, b);
      const __m512i t2 = _mm512_unpacklo_epi32(c, d), t3 = _mm512_unpackhi_epi32(c, d);
      // Dword q of every row: bytes o + 4q.., columns 8 (o + 4q).., blocks 2 o + 8 q + n.
      lookup_nibbles<TT, K, 8>(_mm512_unpacklo_epi64(t0, t2), coef, tab, tstride, 2 * o, acc);
      lookup_nibbles<TT, K, 8>(_mm512_unpackhi_epi64(t0, t2), coef, tab, tstride, 2 * o + 8, acc);
      lookup_nibbles<TT, K, 8>(_mm512_unpacklo_epi64(t1, t3), coef, tab, tstride, 2 * o + 16, acc);
      lookup_nibbles<TT, K, 8>(_mm512_unpackhi_epi64(t1, t3), coef, tab, tstride, 2 * o + 24, acc);
    }
    if (o < pb) {  // groups narrower than 128 columns, or a partial last group: 16 columns at a time
      alignas(64) int32_t lanes[16];
      alignas(64) int32_t rows[16];
      _mm512_store_si512(rows, lane_rows());
      for (; o < pb; o += 2) {
        for (int l = 0; l < 16; ++l) {
          uint16_t h;
          std::memcpy(&h, p + o + rows[l] * rb, 2);
          lanes[l] = h;
        }
        lookup_nibbles<TT, K, 4>(_mm512_load_si512(lanes), coef, tab, tstride, 2 * o, acc);
      }
    }
    lut_planes<J + 1, B, TT, K>(base, rb, pb, factor, tab, tstride, acc);
  }
}

// 16 rows r..r+15 (lane order kLaneRow), tokens t0..t0+TT-1. Needs row r+16
// to exist: the gathers below read 4 bytes at a 1- or 2-byte element.
template <int TT>
HWY_NOINLINE void lut_block(const PackedLinear& L, const GemvInput& in, int64_t r, int64_t t0, float* y,
                            int64_t ldy) {
  constexpr int K = 8 / TT;  // accumulation chains per token (add latency)
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit(), rb = L.row_bytes();
  const auto goff = L.group_offsets();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto onecol = L.onebit_column();
  const __m512i lr = lane_rows();
  const __m512i idx_g = _mm512_mullo_epi32(lr, _mm512_set1_epi32(int32_t(G)));    // element (lane row, 0) of (rows, G)
  const __m512i idx_1 = _mm512_mullo_epi32(lr, _mm512_set1_epi32(int32_t(n1)));   // of (rows, n1)
  const __m512i lo16 = _mm512_set1_epi32(0xffff), lo8 = _mm512_set1_epi32(0xff);
  // Accumulators run across all groups: each lookup is scaled by its rows'
  // group factor times 2^j (FMA), and the group's shift term is added on.
  __m512 acc[TT][K];
  for (int t = 0; t < TT; ++t)
    for (int k = 0; k < K; ++k) acc[t][k] = _mm512_setzero_ps();
  const float* tab0 = in.tables + t0 * in.tstride;
  // The next block's codes are one contiguous run of 16 rows; prefetch a
  // share of it per group. Measured: without it a cold GEMV reads DRAM at
  // about half the speed of a hot one (16 short row streams per block are
  // too short for the hardware prefetcher to ramp up).
  const uint8_t* next = P.codes.data() + (r + kLutRows) * rb;
  const int64_t next_bytes = std::max<int64_t>(0, std::min(kLutRows, L.rows() - r - kLutRows)) * rb;
  const int64_t share = (next_bytes / G + 63) / 64 * 64;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t o = g * share; o < std::min(next_bytes, (g + 1) * share); o += 64)
      _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
    const int b = L.bits(g);
    const int64_t pb = plane_bytes(gcol[g + 1] - gcol[g]);
    const uint8_t* base = P.codes.data() + r * rb + goff[g];
    const float* tab = tab0 + 4 * pcol[g];  // this group's first block table
    // The 16 rows' scales (fp16 in the low half of each gathered dword).
    const __m512i sh = _mm512_i32gather_epi32(idx_g, P.scales.data() + r * G + g, 2);
    const __m512 scale = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(sh, lo16)));
    __m512 factor, shift;  // group result = factor Σqx + shift Σx
    if (b == 1) {
      const __m512i mh = _mm512_i32gather_epi32(idx_1, P.offsets.data() + r * n1 + onecol[g], 2);
      factor = _mm512_add_ps(scale, scale);
      shift = _mm512_sub_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(mh, lo16))), scale);
    } else {
      const __m512i z = _mm512_i32gather_epi32(idx_g, L.zero_points().data() + r * G + g, 1);
      factor = scale;
      shift = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), scale), _mm512_cvtepi32_ps(_mm512_and_si512(z, lo8)));
    }
    switch (b) {
#define SLIM_LUT_CASE(B) \
  case B:                \
    lut_planes<0, B, TT, K>(base, rb, pb, factor, tab, in.tstride, acc); break;
      SLIM_LUT_CASE(1) SLIM_LUT_CASE(2) SLIM_LUT_CASE(3) SLIM_LUT_CASE(4)
      SLIM_LUT_CASE(5) SLIM_LUT_CASE(6) SLIM_LUT_CASE(7) SLIM_LUT_CASE(8)
#undef SLIM_LUT_CASE
    }
    for (int t = 0; t < TT; ++t)
      acc[t][0] = _mm512_fmadd_ps(shift, _mm512_set1_ps(in.xsum[(t0 + t) * G + g]), acc[t][0]);
  }
  for (int t = 0; t < TT; ++t) {
    __m512 s = acc[t][0];
    for (int k = 1; k < K; ++k) s = _mm512_add_ps(s, acc[t][k]);
    _mm512_storeu_ps(y + (t0 + t) * ldy + r, _mm512_permutexvar_ps(lr, s));
  }
}

// 16-row blocks [b0, b1) (block i = rows 16 i ..), tokens [t0, t1) in passes
// of 4, 2, 1 tokens (the block's codes stay in L1 between passes).
inline void lut_blocks(const PackedLinear& L, const GemvInput& in, int64_t b0, int64_t b1, int64_t t0, int64_t t1,
                       float* y, int64_t ldy) {
  for (int64_t blk = b0; blk < b1; ++blk) {
    const int64_t r = blk * kLutRows;
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) lut_block<4>(L, in, r, t, y, ldy);
    for (; t + 2 <= t1; t += 2) lut_block<2>(L, in, r, t, y, ldy);
    for (; t < t1; ++t) lut_block<1>(L, in, r, t, y, ldy);
  }
}

#endif  // HWY_TARGET <= HWY_AVX3
