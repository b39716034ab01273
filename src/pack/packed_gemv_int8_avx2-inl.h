// AVX2 GEMV on int8 subset-sum tables (approximate; int8_gemv.h has the
// tables and the scalar reference). Included by packed_kernels.cc once per
// Highway target, inside its namespace (no include guard on purpose);
// compiled for AVX2 only.
//
// Why: the exact fp32 LUT kernel (packed_gemv_lut_avx2-inl.h) needs two
// vpermps + a blend per 8 rows x 4 columns of one plane and is bound by the
// permutes (perf: ~40% of its samples on vpermps/vblendvps/FMA). vpshufb looks
// up 32 int8 entries at once, so here one instruction covers 16 rows x 2 planes
// x 4 columns.
//
// Layout of a lookup: a 128-bit lane holds 8 rows x 2 planes (byte 2r = plane
// j, byte 2r + 1 = plane j + 1 of row r; the high lane rows 8..15), all for the
// same byte k of a 16-byte plane chunk (columns 8k..8k+7 = 4-column blocks
// 2k and 2k + 1). The low and high nibbles index the two blocks' tables;
// vpmaddubsw with weights (1, 2) then adds the two planes of each row into an
// int16 lane = row. 16 rows x 16 bytes per plane pair are brought into that
// layout by a 16x16 byte transpose per lane (64 unpacks per 512 bytes).
// Overflow: a 128-column chunk sums 32 lookups x 3 x 127 = 12192 < 2^15 per
// lane; chunks are widened to int32 before the plane weight 2^j.
#if HWY_TARGET == HWY_AVX2

constexpr int64_t kInt8Rows = 16;

// out[k] byte s = in[s] byte k, in each 128-bit lane.
HWY_INLINE void transpose_16x16_epi8(const __m256i (&in)[16], __m256i (&out)[16]) {
  __m256i t1[8][2], t2[4][2][2], t3[2][2][2][2];
  SLIM_UNROLL
  for (int i = 0; i < 8; ++i) {  // word m of t1[i][h]: sources 2i, 2i+1 at byte 8h + m
    t1[i][0] = _mm256_unpacklo_epi8(in[2 * i], in[2 * i + 1]);
    t1[i][1] = _mm256_unpackhi_epi8(in[2 * i], in[2 * i + 1]);
  }
  SLIM_UNROLL
  for (int i = 0; i < 4; ++i)  // dword p of t2[i][h][e]: sources 4i..4i+3 at byte 8h + 4e + p
    SLIM_UNROLL
    for (int h = 0; h < 2; ++h) {
      t2[i][h][0] = _mm256_unpacklo_epi16(t1[2 * i][h], t1[2 * i + 1][h]);
      t2[i][h][1] = _mm256_unpackhi_epi16(t1[2 * i][h], t1[2 * i + 1][h]);
    }
  SLIM_UNROLL
  for (int i = 0; i < 2; ++i)  // qword q of t3[i][h][e][f]: sources 8i..8i+7 at byte 8h + 4e + 2f + q
    SLIM_UNROLL
    for (int h = 0; h < 2; ++h)
      SLIM_UNROLL
      for (int e = 0; e < 2; ++e) {
        t3[i][h][e][0] = _mm256_unpacklo_epi32(t2[2 * i][h][e], t2[2 * i + 1][h][e]);
        t3[i][h][e][1] = _mm256_unpackhi_epi32(t2[2 * i][h][e], t2[2 * i + 1][h][e]);
      }
  SLIM_UNROLL
  for (int h = 0; h < 2; ++h)
    SLIM_UNROLL
    for (int e = 0; e < 2; ++e)
      SLIM_UNROLL
      for (int f = 0; f < 2; ++f) {
        const int k = 8 * h + 4 * e + 2 * f;
        out[k] = _mm256_unpacklo_epi64(t3[0][h][e][f], t3[1][h][e][f]);
        out[k + 1] = _mm256_unpackhi_epi64(t3[0][h][e][f], t3[1][h][e][f]);
      }
}

// Planes p0 and p1 (p1 null: none) of one 16-byte chunk for 16 rows (row
// stride rb): per row (int16 lane; rows 0..7 low lane, 8..15 high lane)
// Σ_k tab[k][nibble of p0] + 2 tab[k][nibble of p1] over the chunk's 32
// blocks.
template <bool kTwo>
HWY_INLINE __m256i int8_pair_chunk(const uint8_t* p0, const uint8_t* p1, int64_t rb, const int8_t* tab) {
  __m256i in[16], v[16];
  SLIM_UNROLL
  for (int s = 0; s < 16; ++s) {
    const uint8_t* src = s % 2 == 0 ? p0 : p1;
    if (s % 2 == 1 && !kTwo) {
      in[s] = _mm256_setzero_si256();
    } else {
      const uint8_t* a = src + (s / 2) * rb;
      in[s] = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(a + 8 * rb), reinterpret_cast<const __m128i*>(a));
    }
  }
  transpose_16x16_epi8(in, v);
  const __m256i nib = _mm256_set1_epi8(0x0f), w12 = _mm256_set1_epi16(0x0201);
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  SLIM_UNROLL
  for (int k = 0; k < 16; ++k) {
    const __m256i lo = _mm256_and_si256(v[k], nib), hi = _mm256_and_si256(_mm256_srli_epi16(v[k], 4), nib);
    const __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tab + 32 * k)));
    const __m256i tb =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tab + 32 * k + 16)));
    acc0 = _mm256_add_epi16(acc0, _mm256_maddubs_epi16(w12, _mm256_shuffle_epi8(ta, lo)));
    acc1 = _mm256_add_epi16(acc1, _mm256_maddubs_epi16(w12, _mm256_shuffle_epi8(tb, hi)));
  }
  return _mm256_add_epi16(acc0, acc1);
}

// acc (rows 0..7, 8..15) += chunk sums (int16) << j.
HWY_INLINE void widen_add(__m256i s16, int j, __m256i (&acc)[2]) {
  const __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s16));
  const __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s16, 1));
  acc[0] = _mm256_add_epi32(acc[0], _mm256_slli_epi32(lo, j));
  acc[1] = _mm256_add_epi32(acc[1], _mm256_slli_epi32(hi, j));
}

// acc (rows 0..7, 8..15) += Σ q tq over one group of B planes (base: row 0's
// plane 0, pb bytes a plane; tab: the group's first block table).
template <int B>
HWY_INLINE void int8_group(const uint8_t* base, int64_t rb, int64_t pb, const int8_t* tab, __m256i (&acc)[2]) {
  for (int64_t o = 0; o < pb; o += 16) {
    const int8_t* tab_o = tab + 32 * o;
    SLIM_UNROLL
    for (int j = 0; j < B; j += 2) {
      constexpr int kLast = B - 1;
      const uint8_t* p0 = base + j * pb + o;
      const uint8_t* p1 = base + (j + 1) * pb + o;  // not read when j == kLast
      __m256i s16;
      if (o + 16 <= pb) {
        s16 = j < kLast ? int8_pair_chunk<true>(p0, p1, rb, tab_o) : int8_pair_chunk<false>(p0, p1, rb, tab_o);
      } else {  // the rest of a group narrower than 16 bytes a plane: zero bytes index entry 0 (= 0)
        alignas(16) uint8_t stage[2][kInt8Rows][16] = {};  // the chunk's two planes, zero-padded
        for (int64_t l = 0; l < kInt8Rows; ++l) {
          std::memcpy(stage[0][l], p0 + l * rb, size_t(pb - o));
          if (j < kLast) std::memcpy(stage[1][l], p1 + l * rb, size_t(pb - o));
        }
        s16 = int8_pair_chunk<true>(stage[0][0], stage[1][0], 16, tab_o);
      }
      widen_add(s16, j, acc);
    }
  }
}

// Rows r..r+15, tokens [t0, t1): y[t][r..] = Σ_g scale st Σq x + shift xsum.
// tq (T, tq_stride) int8 tables, st (T, G) their scales.
HWY_NOINLINE void int8_block(const PackedLinear& L, const GemvInput& in, const int8_t* tq, int64_t tq_stride,
                             const float* st, int64_t r, int64_t t0, int64_t t1, float* y, int64_t ldy) {
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit(), rb = L.row_bytes();
  const auto goff = L.group_offsets();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto zero = L.zero_points();
  const auto onecol = L.onebit_column();
  // Per row and group (row-major, (16, G)): factor (scale, 2 scale at 1 bit)
  // and shift (-scale zero, mean - scale at 1 bit); read per group by gathers.
  thread_local std::vector<float> fbuf;
  if (int64_t(fbuf.size()) < 2 * kInt8Rows * G) fbuf.resize(size_t(2 * kInt8Rows * G));
  float* fac = fbuf.data();
  float* sft = fac + kInt8Rows * G;
  for (int64_t l = 0; l < kInt8Rows; ++l) {
    const int64_t row = r + l;
    const uint16_t* sc = P.scales.data() + row * G;
    const uint8_t* zp = zero.data() + row * G;
    int64_t g = 0;
    for (; g + 8 <= G; g += 8) {  // zero_points() has 4 spare bytes, but 8 are read: only whole 8-groups here
      const __m256 s = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + g)));
      const __m256 z =
          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(zp + g))));
      _mm256_storeu_ps(fac + l * G + g, s);
      _mm256_storeu_ps(sft + l * G + g, _mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), s), z));
    }
    for (; g < G; ++g) {
      const float s = half(sc[g]);
      fac[l * G + g] = s;
      sft[l * G + g] = -s * float(zp[g]);
    }
    if (n1 > 0)
      for (g = 0; g < G; ++g)
        if (L.bits(g) == 1) {
          const float s = fac[l * G + g];
          fac[l * G + g] = 2.f * s;
          sft[l * G + g] = half(P.offsets[size_t(row * n1 + onecol[g])]) - s;
        }
  }
  const __m256i rows_idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(G)));
  // Prefetch a share of the next block's (contiguous) codes per group, as the
  // exact LUT kernel does: 16 short row streams do not start the hardware prefetcher.
  const uint8_t* next = P.codes.data() + (r + kInt8Rows) * rb;
  const int64_t next_bytes = std::max<int64_t>(0, std::min(kInt8Rows, L.rows() - r - kInt8Rows)) * rb;
  const int64_t share = (next_bytes / G + 63) / 64 * 64;
  for (int64_t t = t0; t < t1; ++t) {
    const int8_t* tqt = tq + t * tq_stride;
    __m256 yacc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t g = 0; g < G; ++g) {
      if (t == t0)
        for (int64_t o = g * share; o < std::min(next_bytes, (g + 1) * share); o += 64)
          _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
      const int b = L.bits(g);
      const int64_t pb = plane_bytes(gcol[g + 1] - gcol[g]);
      const uint8_t* base = P.codes.data() + r * rb + goff[g];
      const int8_t* tab = tqt + 4 * pcol[g];  // 16 entries per 4 columns
      __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      switch (b) {
#define SLIM_INT8_CASE(B) \
  case B:                 \
    int8_group<B>(base, rb, pb, tab, acc); break;
        SLIM_INT8_CASE(1) SLIM_INT8_CASE(2) SLIM_INT8_CASE(3) SLIM_INT8_CASE(4)
        SLIM_INT8_CASE(5) SLIM_INT8_CASE(6) SLIM_INT8_CASE(7) SLIM_INT8_CASE(8)
#undef SLIM_INT8_CASE
      }
      const __m256 stg = _mm256_set1_ps(st[t * G + g]), xs = _mm256_set1_ps(in.xsum[t * G + g]);
      SLIM_UNROLL
      for (int h = 0; h < 2; ++h) {
        const __m256 f = _mm256_i32gather_ps(fac + 8 * h * G + g, rows_idx, 4);
        const __m256 s = _mm256_i32gather_ps(sft + 8 * h * G + g, rows_idx, 4);
        yacc[h] = _mm256_fmadd_ps(_mm256_mul_ps(f, stg), _mm256_cvtepi32_ps(acc[h]), yacc[h]);
        yacc[h] = _mm256_fmadd_ps(s, xs, yacc[h]);
      }
    }
    _mm256_storeu_ps(y + t * ldy + r, yacc[0]);
    _mm256_storeu_ps(y + t * ldy + r + 8, yacc[1]);
  }
}

#endif  // HWY_TARGET == HWY_AVX2
