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
// 4 (L % 4) + L / 4 (lane_rows()); the per-group vectors are gathered in that
// order and the result is permuted back at the end (the map is an involution).
#if HWY_TARGET <= HWY_AVX3

constexpr int64_t kLutRows = 16;
constexpr int64_t kLutRowsAfter = 1;  // rows needed after a block: its gathers read 4 bytes at a 1- or 2-byte element
constexpr int kLutPair = 2;  // 16-row sub-blocks per kernel call (sharing table loads)

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

// acc[s][t][n % K] += c[s] * tab[block0 + n][nibble n of w[s]], nibbles
// 0..NIB-1, for NB 16-row sub-blocks s sharing each table load (c = the
// rows' group factor times 2^J).
template <int NB, int TT, int K, int NIB>
HWY_INLINE void lookup_nibbles(const __m512i (&w)[NB], const __m512 (&c)[NB], const float* tab, int64_t tstride,
                               int64_t block0, __m512 (&acc)[NB][TT][K]) {
  SLIM_UNROLL
  for (int n = 0; n < NIB; ++n) {
    __m512i idx[NB];
    SLIM_UNROLL
    for (int sb = 0; sb < NB; ++sb) idx[sb] = n == 0 ? w[sb] : _mm512_srli_epi32(w[sb], unsigned(4 * n));  // vpermps reads bits 0..3
    SLIM_UNROLL
    for (int t = 0; t < TT; ++t) {
      const __m512 table = _mm512_loadu_ps(tab + t * tstride + 16 * (block0 + n));
      SLIM_UNROLL
      for (int sb = 0; sb < NB; ++sb)
        acc[sb][t][n % K] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx[sb], table), c[sb], acc[sb][t][n % K]);
    }
  }
}

// Plane J of one group for NB x 16 rows (base: row 0's plane 0 of the group).
template <int J, int B, int NB, int TT, int K>
HWY_INLINE void lut_planes(const uint8_t* base, int64_t rb, int64_t pb, const __m512 (&factor)[NB], const float* tab,
                           int64_t tstride, __m512 (&acc)[NB][TT][K]) {
  if constexpr (J < B) {
    const uint8_t* p = base + J * pb;
    __m512 coef[NB];
    for (int sb = 0; sb < NB; ++sb) coef[sb] = J == 0 ? factor[sb] : _mm512_mul_ps(factor[sb], _mm512_set1_ps(float(1 << J)));
    int64_t o = 0;
    for (; o + 16 <= pb; o += 16) {  // 128 columns: a 4x4-dword-block transpose per sub-block
      __m512i w[4][NB];  // w[q][sb]: dword q (bytes o + 4q.., blocks 2 o + 8 q + n) of each lane's row
      SLIM_UNROLL
      for (int sb = 0; sb < NB; ++sb) {
        const uint8_t* ps = p + o + 16 * sb * rb;
        const __m512i a = load_4x16(ps, rb), b = load_4x16(ps + 4 * rb, rb);
        const __m512i c = load_4x16(ps + 8 * rb, rb), d = load_4x16(ps + 12 * rb, rb);
        const __m512i t0 = _mm512_unpacklo_epi32(a, b), t1 = _mm512_unpackhi_epi32(a, b);
        const __m512i t2 = _mm512_unpacklo_epi32(c, d), t3 = _mm512_unpackhi_epi32(c, d);
        w[0][sb] = _mm512_unpacklo_epi64(t0, t2);
        w[1][sb] = _mm512_unpackhi_epi64(t0, t2);
        w[2][sb] = _mm512_unpacklo_epi64(t1, t3);
        w[3][sb] = _mm512_unpackhi_epi64(t1, t3);
      }
      SLIM_UNROLL
      for (int q = 0; q < 4; ++q) lookup_nibbles<NB, TT, K, 8>(w[q], coef, tab, tstride, 2 * o + 8 * q, acc);
    }
    if (o < pb) {  // groups narrower than 128 columns, or a partial last group: 16 columns at a time
      alignas(64) int32_t lanes[NB][16];
      alignas(64) int32_t rows[16];
      _mm512_store_si512(rows, lane_rows());
      for (; o < pb; o += 2) {
        __m512i w[NB];
        for (int sb = 0; sb < NB; ++sb) {
          for (int l = 0; l < 16; ++l) {
            uint16_t h;
            std::memcpy(&h, p + o + (16 * sb + rows[l]) * rb, 2);
            lanes[sb][l] = h;
          }
          w[sb] = _mm512_load_si512(lanes[sb]);
        }
        lookup_nibbles<NB, TT, K, 4>(w, coef, tab, tstride, 2 * o, acc);
      }
    }
    lut_planes<J + 1, B, NB, TT, K>(base, rb, pb, factor, tab, tstride, acc);
  }
}

// One group: up to 3 bits the NB sub-blocks share each table load; from 4
// bits one sub-block at a time (measured: sharing is 7-17% faster at 1-3 bits,
// 9% slower at 4, where the unrolled planes of two sub-blocks run out of
// registers).
template <int B, int NB, int TT, int K>
HWY_INLINE void lut_group(const uint8_t* base, int64_t rb, int64_t pb, const __m512 (&factor)[NB], const float* tab,
                          int64_t tstride, __m512 (&acc)[NB][TT][K]) {
  if constexpr (B <= 3 || NB == 1) {
    lut_planes<0, B, NB, TT, K>(base, rb, pb, factor, tab, tstride, acc);
  } else {
    for (int sb = 0; sb < NB; ++sb) {
      const __m512 f[1] = {factor[sb]};
      __m512 a[1][TT][K];
      for (int t = 0; t < TT; ++t)
        for (int k = 0; k < K; ++k) a[0][t][k] = acc[sb][t][k];
      lut_planes<0, B, 1, TT, K>(base + 16 * sb * rb, rb, pb, f, tab, tstride, a);
      for (int t = 0; t < TT; ++t)
        for (int k = 0; k < K; ++k) acc[sb][t][k] = a[0][t][k];
    }
  }
}

// NB x 16 rows from r (lane order lane_rows() within each 16), tokens
// t0..t0+TT-1. Needs row r + 16 NB to exist: the gathers below read 4 bytes
// at a 1- or 2-byte element.
template <int NB, int TT>
HWY_NOINLINE void lut_block(const PackedLinear& L, const GemvInput& in, int64_t r, int64_t t0, float* y,
                            int64_t ldy) {
  constexpr int K = 8 / (NB * TT) > 2 ? 8 / (NB * TT) : 2;  // accumulation chains per (sub-block, token)
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
  __m512 acc[NB][TT][K];
  for (int sb = 0; sb < NB; ++sb)
    for (int t = 0; t < TT; ++t)
      for (int k = 0; k < K; ++k) acc[sb][t][k] = _mm512_setzero_ps();
  const float* tab0 = in.tables + t0 * in.tstride;
  // The next rows' codes are one contiguous run; prefetch a share of it per
  // group. Measured: without it a cold GEMV reads DRAM at about half the
  // speed of a hot one (16 short row streams per block are too short for the
  // hardware prefetcher to ramp up).
  const int64_t nrows = NB * kLutRows;
  const uint8_t* next = P.codes.data() + (r + nrows) * rb;
  const int64_t next_bytes = std::max<int64_t>(0, std::min(nrows, L.rows() - r - nrows)) * rb;
  const int64_t share = (next_bytes / G + 63) / 64 * 64;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t o = g * share; o < std::min(next_bytes, (g + 1) * share); o += 64)
      _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
    const int b = L.bits(g);
    const int64_t pb = plane_bytes(gcol[g + 1] - gcol[g]);
    const uint8_t* base = P.codes.data() + r * rb + goff[g];
    const float* tab = tab0 + 4 * pcol[g];  // this group's first block table
    __m512 factor[NB], shift[NB];  // group result = factor Σqx + shift Σx
    for (int sb = 0; sb < NB; ++sb) {
      const int64_t rs = r + 16 * sb;
      // The 16 rows' scales (fp16 in the low half of each gathered dword).
      const __m512i sh = _mm512_i32gather_epi32(idx_g, P.scales.data() + rs * G + g, 2);
      const __m512 scale = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(sh, lo16)));
      if (b == 1) {
        const __m512i mh = _mm512_i32gather_epi32(idx_1, P.offsets.data() + rs * n1 + onecol[g], 2);
        factor[sb] = _mm512_add_ps(scale, scale);
        shift[sb] = _mm512_sub_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(mh, lo16))), scale);
      } else {
        const __m512i z = _mm512_i32gather_epi32(idx_g, L.zero_points().data() + rs * G + g, 1);
        factor[sb] = scale;
        shift[sb] =
            _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), scale), _mm512_cvtepi32_ps(_mm512_and_si512(z, lo8)));
      }
    }
    switch (b) {
#define SLIM_LUT_CASE(B) \
  case B:                \
    lut_group<B, NB, TT, K>(base, rb, pb, factor, tab, in.tstride, acc); break;
      SLIM_LUT_CASE(1) SLIM_LUT_CASE(2) SLIM_LUT_CASE(3) SLIM_LUT_CASE(4)
      SLIM_LUT_CASE(5) SLIM_LUT_CASE(6) SLIM_LUT_CASE(7) SLIM_LUT_CASE(8)
#undef SLIM_LUT_CASE
    }
    for (int sb = 0; sb < NB; ++sb)
      for (int t = 0; t < TT; ++t)
        acc[sb][t][0] = _mm512_fmadd_ps(shift[sb], _mm512_set1_ps(in.xsum[(t0 + t) * G + g]), acc[sb][t][0]);
  }
  for (int sb = 0; sb < NB; ++sb)
    for (int t = 0; t < TT; ++t) {
      __m512 v = acc[sb][t][0];
      for (int k = 1; k < K; ++k) v = _mm512_add_ps(v, acc[sb][t][k]);
      _mm512_storeu_ps(y + (t0 + t) * ldy + r + 16 * sb, _mm512_permutexvar_ps(lr, v));
    }
}

// 16-row blocks [b0, b1) (block i = rows 16 i ..), in pairs (the pair shares
// every table load: half the table traffic from L2), tokens [t0, t1) in
// passes of 4, 2, 1 tokens (the rows' codes stay in L1 between passes).
inline void lut_blocks(const PackedLinear& L, const GemvInput& in, int64_t b0, int64_t b1, int64_t t0, int64_t t1,
                       float* y, int64_t ldy) {
  int64_t blk = b0;
  for (; blk + kLutPair <= b1; blk += kLutPair) {
    const int64_t r = blk * kLutRows;
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) lut_block<kLutPair, 4>(L, in, r, t, y, ldy);
    for (; t + 2 <= t1; t += 2) lut_block<kLutPair, 2>(L, in, r, t, y, ldy);
    for (; t < t1; ++t) lut_block<kLutPair, 1>(L, in, r, t, y, ldy);
  }
  for (; blk < b1; ++blk) {
    const int64_t r = blk * kLutRows;
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) lut_block<1, 4>(L, in, r, t, y, ldy);
    for (; t + 2 <= t1; t += 2) lut_block<1, 2>(L, in, r, t, y, ldy);
    for (; t < t1; ++t) lut_block<1, 1>(L, in, r, t, y, ldy);
  }
}

#endif  // HWY_TARGET <= HWY_AVX3
