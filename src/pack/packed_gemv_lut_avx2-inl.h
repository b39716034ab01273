// AVX2 GEMV with one row per lane: 8 rows at a time, the group dot products
// by table lookup (the AVX2 counterpart of packed_gemv_lut-inl.h). Included by
// packed_kernels.cc once per Highway target, inside its namespace (no include
// guard on purpose); compiled for AVX2 only.
//
// Same tables as on AVX-512: per 4-column block n of x its 16 subset sums,
// tab_n[v] = Σ_{i: bit i of v} x[4n + i], stored as two 8-float halves
// (v < 8, v >= 8). vpermps on AVX2 indexes 8 floats (bits 0..2 of each lane),
// so a nibble is two lookups, one per half, and a blend on bit 3 (moved to the
// sign bit): 32 weight-bits (8 rows x 4 columns) per 2 permutes + 1 blend +
// 1 FMA, where the masked kernel needs a mask-row load + FMA per 8 bits.
// fp32 throughout: the sums are the reference's up to summation order.
//
// The lanes need the 8 rows' nibbles side by side: 8 rows x 16 bytes of a
// plane are loaded as 4 ymm (rows i and i + 4 in the two 128-bit halves) and
// transposed as 4x4 dword blocks, which leaves lane L holding row L.
#if HWY_TARGET == HWY_AVX2

constexpr int64_t kLutRows = 8;
constexpr int64_t kLutRowsAfter = 0;  // rows needed after a block (none: no gathers)
constexpr int kLutPair = 2;           // 8-row sub-blocks per kernel call (sharing table loads)
constexpr int kLutShareMaxBits = 2;   // widest group whose sub-blocks share table loads (lut_group)

// tab (n4, 16) from padded x (n4 * 4): the subset sums of each 4-column block,
// bit for bit the AVX-512 build_subset_tables() (s + x3 = FMA of 1.0 * x3).
inline void build_subset_tables(const float* xp, int64_t n4, float* tab) {
  const __m256i v = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256 bit[3];
  for (int i = 0; i < 3; ++i)
    bit[i] = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, i), _mm256_set1_epi32(1)));
  for (int64_t n = 0; n < n4; ++n) {
    __m256 s = _mm256_mul_ps(bit[0], _mm256_set1_ps(xp[4 * n]));
    for (int i = 1; i < 3; ++i) s = _mm256_fmadd_ps(bit[i], _mm256_set1_ps(xp[4 * n + i]), s);
    _mm256_storeu_ps(tab + 16 * n, s);
    _mm256_storeu_ps(tab + 16 * n + 8, _mm256_add_ps(s, _mm256_set1_ps(xp[4 * n + 3])));
  }
}

// Rows p and p + 4 rb: 16 bytes each, one per 128-bit half.
inline __m256i load_2x16(const uint8_t* p, int64_t rb) {
  const __m256i a = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_inserti128_si256(a, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 4 * rb)), 1);
}

// acc[s][t][n % K] += c[s] * tab[block0 + n][nibble n of w[s]], nibbles
// 0..NIB-1, for NB 8-row sub-blocks s sharing each table load.
template <int NB, int TT, int K, int NIB>
HWY_INLINE void lookup_nibbles(const __m256i (&w)[NB], const __m256 (&c)[NB], const float* tab, int64_t tstride,
                               int64_t block0, __m256 (&acc)[NB][TT][K]) {
  SLIM_UNROLL
  for (int n = 0; n < NIB; ++n) {
    __m256i idx[NB];
    __m256 sel[NB];
    SLIM_UNROLL
    for (int sb = 0; sb < NB; ++sb) {
      idx[sb] = n == 0 ? w[sb] : _mm256_srli_epi32(w[sb], 4 * n);                     // vpermps reads bits 0..2
      sel[sb] = _mm256_castsi256_ps(n == 7 ? w[sb] : _mm256_slli_epi32(w[sb], 28 - 4 * n));  // bit 3 -> sign
    }
    SLIM_UNROLL
    for (int t = 0; t < TT; ++t) {
      const float* tb = tab + t * tstride + 16 * (block0 + n);
      const __m256 lo = _mm256_loadu_ps(tb), hi = _mm256_loadu_ps(tb + 8);
      SLIM_UNROLL
      for (int sb = 0; sb < NB; ++sb) {
        const __m256 v =
            _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx[sb]), _mm256_permutevar8x32_ps(hi, idx[sb]), sel[sb]);
        acc[sb][t][n % K] = _mm256_fmadd_ps(v, c[sb], acc[sb][t][n % K]);
      }
    }
  }
}

// Plane J of one group for NB x 8 rows (base: row 0's plane 0 of the group).
template <int J, int B, int NB, int TT, int K>
HWY_INLINE void lut_planes(const uint8_t* base, int64_t rb, int64_t pb, const __m256 (&factor)[NB], const float* tab,
                           int64_t tstride, __m256 (&acc)[NB][TT][K]) {
  if constexpr (J < B) {
    const uint8_t* p = base + J * pb;
    __m256 coef[NB];
    for (int sb = 0; sb < NB; ++sb)
      coef[sb] = J == 0 ? factor[sb] : _mm256_mul_ps(factor[sb], _mm256_set1_ps(float(1 << J)));
    int64_t o = 0;
    for (; o + 16 <= pb; o += 16) {  // 128 columns: a 4x4-dword-block transpose per sub-block
      SLIM_UNROLL
      for (int q = 0; q < 4; q += 2) {
        __m256i w[2][NB];  // w[h][sb]: dword q + h (blocks 2 o + 8 (q + h) + n) of each lane's row
        SLIM_UNROLL
        for (int sb = 0; sb < NB; ++sb) {
          const uint8_t* ps = p + o + 8 * sb * rb;
          const __m256i a = load_2x16(ps, rb), b = load_2x16(ps + rb, rb);
          const __m256i c = load_2x16(ps + 2 * rb, rb), d = load_2x16(ps + 3 * rb, rb);
          // Rows 0,1 (2,3) interleaved by dword: low pair = dwords 0,1, high pair = dwords 2,3.
          const __m256i t0 = q == 0 ? _mm256_unpacklo_epi32(a, b) : _mm256_unpackhi_epi32(a, b);
          const __m256i t2 = q == 0 ? _mm256_unpacklo_epi32(c, d) : _mm256_unpackhi_epi32(c, d);
          w[0][sb] = _mm256_unpacklo_epi64(t0, t2);
          w[1][sb] = _mm256_unpackhi_epi64(t0, t2);
        }
        lookup_nibbles<NB, TT, K, 8>(w[0], coef, tab, tstride, 2 * o + 8 * q, acc);
        lookup_nibbles<NB, TT, K, 8>(w[1], coef, tab, tstride, 2 * o + 8 * (q + 1), acc);
      }
    }
    for (; o < pb; o += 2) {  // groups narrower than 128 columns, or a partial last group: 16 columns at a time
      alignas(32) int32_t lanes[NB][8];
      __m256i w[NB];
      for (int sb = 0; sb < NB; ++sb) {
        for (int l = 0; l < 8; ++l) {
          uint16_t h;
          std::memcpy(&h, p + o + (8 * sb + l) * rb, 2);
          lanes[sb][l] = h;
        }
        w[sb] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes[sb]));
      }
      lookup_nibbles<NB, TT, K, 4>(w, coef, tab, tstride, 2 * o, acc);
    }
    lut_planes<J + 1, B, NB, TT, K>(base, rb, pb, factor, tab, tstride, acc);
  }
}

// One group: NB sub-blocks share each table load up to 2 bits; wider groups
// one sub-block at a time (AVX2 has 16 ymm registers: two sub-blocks' indices,
// selectors and accumulators do not fit with more planes unrolled).
template <int B, int NB, int TT, int K>
HWY_INLINE void lut_group(const uint8_t* base, int64_t rb, int64_t pb, const __m256 (&factor)[NB], const float* tab,
                          int64_t tstride, __m256 (&acc)[NB][TT][K]) {
  if constexpr (NB == 1 || B <= kLutShareMaxBits) {
    lut_planes<0, B, NB, TT, K>(base, rb, pb, factor, tab, tstride, acc);
  } else {
    for (int sb = 0; sb < NB; ++sb) {
      const __m256 f[1] = {factor[sb]};
      __m256 a[1][TT][K];
      for (int t = 0; t < TT; ++t)
        for (int k = 0; k < K; ++k) a[0][t][k] = acc[sb][t][k];
      lut_planes<0, B, 1, TT, K>(base + 8 * sb * rb, rb, pb, f, tab, tstride, a);
      for (int t = 0; t < TT; ++t)
        for (int k = 0; k < K; ++k) acc[sb][t][k] = a[0][t][k];
    }
  }
}

// NB x 8 rows from r, tokens t0..t0+TT-1.
template <int NB, int TT>
HWY_NOINLINE void lut_block(const PackedLinear& L, const GemvInput& in, int64_t r, int64_t t0, float* y,
                            int64_t ldy) {
  constexpr int K = 4 / (NB * TT) > 2 ? 4 / (NB * TT) : 2;  // accumulation chains per (sub-block, token)
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit(), rb = L.row_bytes();
  const auto goff = L.group_offsets();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto zero = L.zero_points();
  const auto onecol = L.onebit_column();
  __m256 acc[NB][TT][K];
  for (int sb = 0; sb < NB; ++sb)
    for (int t = 0; t < TT; ++t)
      for (int k = 0; k < K; ++k) acc[sb][t][k] = _mm256_setzero_ps();
  const float* tab0 = in.tables + t0 * in.tstride;
  // Prefetch a share of the next rows' contiguous codes per group (the
  // hardware prefetcher does not ramp up on 8 short row streams).
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
    __m256 factor[NB], shift[NB];           // group result = factor Σqx + shift Σx (the masked kernel's arithmetic)
    for (int sb = 0; sb < NB; ++sb) {
      alignas(32) float f[8], s[8];
      for (int l = 0; l < 8; ++l) {
        const int64_t row = r + 8 * sb + l;
        const float scale = half(P.scales[size_t(row * G + g)]);
        if (b == 1) {
          f[l] = 2.f * scale;
          s[l] = half(P.offsets[size_t(row * n1 + onecol[g])]) - scale;
        } else {
          f[l] = scale;
          s[l] = -scale * float(zero[size_t(row * G + g)]);
        }
      }
      factor[sb] = _mm256_load_ps(f);
      shift[sb] = _mm256_load_ps(s);
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
        acc[sb][t][0] = _mm256_fmadd_ps(shift[sb], _mm256_set1_ps(in.xsum[(t0 + t) * G + g]), acc[sb][t][0]);
  }
  for (int sb = 0; sb < NB; ++sb)
    for (int t = 0; t < TT; ++t) {
      __m256 v = acc[sb][t][0];
      for (int k = 1; k < K; ++k) v = _mm256_add_ps(v, acc[sb][t][k]);
      _mm256_storeu_ps(y + (t0 + t) * ldy + r + 8 * sb, v);
    }
}

// 8-row blocks [b0, b1) (block i = rows 8 i ..), in pairs (the pair shares
// table loads), tokens [t0, t1) in passes of 2 and 1 tokens.
inline void lut_blocks(const PackedLinear& L, const GemvInput& in, int64_t b0, int64_t b1, int64_t t0, int64_t t1,
                       float* y, int64_t ldy) {
  int64_t blk = b0;
  for (; blk + kLutPair <= b1; blk += kLutPair) {
    const int64_t r = blk * kLutRows;
    int64_t t = t0;
    for (; t + 2 <= t1; t += 2) lut_block<kLutPair, 2>(L, in, r, t, y, ldy);
    for (; t < t1; ++t) lut_block<kLutPair, 1>(L, in, r, t, y, ldy);
  }
  for (; blk < b1; ++blk) {
    const int64_t r = blk * kLutRows;
    int64_t t = t0;
    for (; t + 2 <= t1; t += 2) lut_block<1, 2>(L, in, r, t, y, ldy);
    for (; t < t1; ++t) lut_block<1, 1>(L, in, r, t, y, ldy);
  }
}

#endif  // HWY_TARGET == HWY_AVX2
