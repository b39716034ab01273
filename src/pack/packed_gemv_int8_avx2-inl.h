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
// Groups narrower than 128 columns, and the last partial 16 bytes of a plane
// in wider ones, use the same lookups on 16-byte windows with per-byte
// weights (0 for bytes outside the group) instead of a staging copy: see
// int8_group.
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

// Byte weights and table offsets of a lookup pattern other than a whole
// 16-byte chunk of two planes (kMasked below): w[k] = (weight of window A's
// byte k) | (weight of window B's byte k) << 8, 0 for bytes outside the group;
// toff[k]: the 32-byte table pair (4-column blocks 2c, 2c + 1) of byte k.
struct Int8Pattern {
  alignas(32) uint16_t w[16];
  uint8_t toff[16];
};

// Windows A (p0) and B (p1; not read unless kTwo) of 16 bytes for 16 rows
// (row stride rb): per row (int16 lane; rows 0..7 low lane, 8..15 high lane)
// Σ_k wA_k tab_k[nibble of A byte k] + wB_k tab_k[nibble of B byte k].
// Not kMasked: A, B = 16-byte chunks of planes j, j + 1, weights (1, 2), byte
// k's tables at tab + 32 k. kMasked: weights and tables from `pat`.
template <bool kTwo, bool kMasked>
HWY_INLINE __m256i int8_pair_chunk(const uint8_t* p0, const uint8_t* p1, int64_t rb, const int8_t* tab,
                                   const Int8Pattern* pat) {
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
    const int8_t* t = kMasked ? tab + 32 * pat->toff[k] : tab + 32 * k;
    const __m256i w = kMasked ? _mm256_set1_epi16(int16_t(pat->w[k])) : w12;
    const __m256i lo = _mm256_and_si256(v[k], nib), hi = _mm256_and_si256(_mm256_srli_epi16(v[k], 4), nib);
    const __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
    const __m256i tb = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t + 16)));
    acc0 = _mm256_add_epi16(acc0, _mm256_maddubs_epi16(w, _mm256_shuffle_epi8(ta, lo)));
    acc1 = _mm256_add_epi16(acc1, _mm256_maddubs_epi16(w, _mm256_shuffle_epi8(tb, hi)));
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

// One plane's 16-byte chunk for two 16-row blocks (p0: rows 0..15, p1: rows
// 16..31, row stride rb): s0, s1 = per row (int16 lanes as in
// int8_pair_chunk) Σ_k tab_k[nibble]. Why: a lone plane (1-bit groups, the
// third plane of 3-bit ones) would fill only half of a pair chunk's lookups;
// here every looked-up byte is used, at the price of two maddubs per lookup
// (weights (1, 0) and (0, 1) pick the two blocks' rows apart).
HWY_INLINE void int8_single_chunk32(const uint8_t* p0, const uint8_t* p1, int64_t rb, const int8_t* tab, __m256i& s0,
                                    __m256i& s1) {
  __m256i in[16], v[16];
  SLIM_UNROLL
  for (int s = 0; s < 16; ++s) {
    const uint8_t* a = (s % 2 == 0 ? p0 : p1) + (s / 2) * rb;
    in[s] = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(a + 8 * rb), reinterpret_cast<const __m128i*>(a));
  }
  transpose_16x16_epi8(in, v);
  const __m256i nib = _mm256_set1_epi8(0x0f), w10 = _mm256_set1_epi16(0x0001), w01 = _mm256_set1_epi16(0x0100);
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256(), b0 = _mm256_setzero_si256(),
          b1 = _mm256_setzero_si256();
  SLIM_UNROLL
  for (int k = 0; k < 16; ++k) {
    const __m256i lo = _mm256_and_si256(v[k], nib), hi = _mm256_and_si256(_mm256_srli_epi16(v[k], 4), nib);
    const __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tab + 32 * k)));
    const __m256i tb =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tab + 32 * k + 16)));
    const __m256i la = _mm256_shuffle_epi8(ta, lo), lb = _mm256_shuffle_epi8(tb, hi);
    a0 = _mm256_add_epi16(a0, _mm256_maddubs_epi16(w10, la));
    a1 = _mm256_add_epi16(a1, _mm256_maddubs_epi16(w01, la));
    b0 = _mm256_add_epi16(b0, _mm256_maddubs_epi16(w10, lb));
    b1 = _mm256_add_epi16(b1, _mm256_maddubs_epi16(w01, lb));
  }
  s0 = _mm256_add_epi16(a0, b0);
  s1 = _mm256_add_epi16(a1, b1);
}

// Groups narrower than 16 bytes a plane (< 128 columns; pb = 2..14) keep
// their planes contiguous, so one 16-byte window holds ppw whole planes.
// ppw: at most 16 / pb, and small enough that a pair's int16 lanes cannot
// overflow: 2 pb lookups a plane x 127 x (2^(2 ppw) - 1) <= 32767, i.e. 3 at
// pb = 2 (32004), 2 up to pb = 8, 1 above.
// Pair i: window A = planes 2i ppw .. (2i+1) ppw - 1, B = the next ppw; both
// index the tables by column byte (k mod pb), so one lookup serves them.
// Patterns for every (pb, bits, pair), built once.
constexpr int narrow_ppw(int64_t pb) { return pb == 2 ? 3 : pb <= 8 ? 2 : 1; }
constexpr int kInt8MaxPairs = 4;  // ceil(8 planes / (2 ppw)) at pb >= 10 (ppw = 1)
struct NarrowPatterns {
  Int8Pattern p[8][9][kInt8MaxPairs];  // [pb / 2][bits][pair]
  NarrowPatterns() {
    for (int pb = 2; pb < 16; pb += 2) {
      const int ppw = narrow_ppw(pb), ww = ppw * pb;
      for (int b = 1; b <= 8; ++b)
        for (int i = 0; i < kInt8MaxPairs; ++i) {
          Int8Pattern& q = p[pb / 2][b][i];
          for (int k = 0; k < 16; ++k) {
            const int ja = 2 * i * ppw + k / pb, jb = ja + ppw;  // planes of A's and B's byte k
            const bool in_a = k < ww && ja < b, in_b = k < ww && jb < b;
            q.w[k] = uint16_t((in_a ? 1 << (k / pb) : 0) | (in_b ? 1 << (ppw + k / pb) : 0) << 8);
            q.toff[k] = uint8_t(k % pb);
          }
        }
    }
  }
};

const NarrowPatterns kNarrow;

// Tail of a group wider than 16 bytes a plane whose plane bytes pb are not a
// multiple of 16: bytes [pb16, pb) of planes j, j + 1 (t = pb - pb16 of them),
// as a masked chunk with weights (1, 2). [t / 2][1 + has plane j + 1].
struct TailPatterns {
  Int8Pattern p[8][2];
  TailPatterns() {
    for (int t = 0; t < 16; t += 2)
      for (int two = 0; two < 2; ++two)
        for (int k = 0; k < 16; ++k) {
          p[t / 2][two].w[k] = uint16_t(k < t ? (two ? 0x0201 : 0x0001) : 0);
          p[t / 2][two].toff[k] = uint8_t(k);
        }
  }
};

const TailPatterns kTail;

// acc[h] (rows 16h + 0..7, 16h + 8..15) += Σ q tq over one group of B
// planes, for H blocks of 16 rows (base: row 0's plane 0, pb bytes a plane;
// tab: the group's first block table). Reads up to 16 bytes past the group's
// last plane of each row (int8_block keeps that inside the codes).
template <int B, int H>
HWY_INLINE void int8_group(const uint8_t* base, int64_t rb, int64_t pb, const int8_t* tab, __m256i (&acc)[H][2]) {
  if (pb < 16) {
    const int ppw = narrow_ppw(pb), ww = ppw * int(pb);
    SLIM_UNROLL
    for (int h = 0; h < H; ++h)
      SLIM_UNROLL
      for (int i = 0; i < kInt8MaxPairs; ++i) {
        if (2 * i * ppw >= B) break;
        const Int8Pattern* pat = &kNarrow.p[pb / 2][B][i];
        const uint8_t* pa = base + 16 * h * rb + 2 * i * ww;
        const __m256i s16 = (2 * i + 1) * ppw < B ? int8_pair_chunk<true, true>(pa, pa + ww, rb, tab, pat)
                                                  : int8_pair_chunk<false, true>(pa, pa, rb, tab, pat);
        widen_add(s16, 2 * i * ppw, acc[h]);
      }
    return;
  }
  const int64_t pb16 = pb / 16 * 16;
  for (int64_t o = 0; o < pb16; o += 16) {
    const int8_t* tab_o = tab + 32 * o;
    SLIM_UNROLL
    for (int j = 0; j + 1 < B; j += 2)
      SLIM_UNROLL
      for (int h = 0; h < H; ++h) {
        const uint8_t* p0 = base + 16 * h * rb + j * pb + o;
        widen_add(int8_pair_chunk<true, false>(p0, p0 + pb, rb, tab_o, nullptr), j, acc[h]);
      }
    if constexpr (B % 2 == 1) {  // the lone last plane
      const uint8_t* p0 = base + (B - 1) * pb + o;
      if constexpr (H == 2) {
        __m256i s0, s1;
        int8_single_chunk32(p0, p0 + 16 * rb, rb, tab_o, s0, s1);
        widen_add(s0, B - 1, acc[0]);
        widen_add(s1, B - 1, acc[H - 1]);
      } else {
        widen_add(int8_pair_chunk<false, false>(p0, p0, rb, tab_o, nullptr), B - 1, acc[0]);
      }
    }
  }
  if (pb16 < pb) {
    const int8_t* tab_o = tab + 32 * pb16;
    SLIM_UNROLL
    for (int h = 0; h < H; ++h)
      SLIM_UNROLL
      for (int j = 0; j < B; j += 2) {
        const uint8_t* p0 = base + 16 * h * rb + j * pb + pb16;
        const __m256i s16 =
            j + 1 < B ? int8_pair_chunk<true, true>(p0, p0 + pb, rb, tab_o, &kTail.p[(pb - pb16) / 2][1])
                      : int8_pair_chunk<false, true>(p0, p0, rb, tab_o, &kTail.p[(pb - pb16) / 2][0]);
        widen_add(s16, j, acc[h]);
      }
  }
}

// out[g] (g < 8) = lane g of each of in[0..7]: an 8x8 float transpose.
HWY_INLINE void transpose_8x8_ps(const __m256 (&in)[8], __m256 (&out)[8]) {
  __m256 a[8], b[8];
  SLIM_UNROLL
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm256_unpacklo_ps(in[2 * i], in[2 * i + 1]);
    a[2 * i + 1] = _mm256_unpackhi_ps(in[2 * i], in[2 * i + 1]);
  }
  SLIM_UNROLL
  for (int i = 0; i < 2; ++i) {
    b[4 * i] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
    b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0xee);
    b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
    b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xee);
  }
  SLIM_UNROLL
  for (int i = 0; i < 4; ++i) {
    out[i] = _mm256_permute2f128_ps(b[i], b[4 + i], 0x20);
    out[4 + i] = _mm256_permute2f128_ps(b[i], b[4 + i], 0x31);
  }
}

// Rows r..r + 16H - 1, tokens [t0, t1): y[t][r..] = Σ_g scale st Σq x +
// shift xsum. tq (T, tq_stride) int8 tables, st (T, G) their scales.
// H = 2 (two 16-row blocks at once) lets lone planes fill whole lookups
// (int8_single_chunk32); H = 1 for a last odd 16-row block.
template <int H>
HWY_NOINLINE void int8_block(const PackedLinear& L, const GemvInput& in, const int8_t* tq, int64_t tq_stride,
                             const float* st, int64_t r, int64_t t0, int64_t t1, float* y, int64_t ldy) {
  constexpr int64_t NR = kInt8Rows * H;
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit(), rb = L.row_bytes();
  const auto goff = L.group_offsets();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto zero = L.zero_points();
  const auto onecol = L.onebit_column();
  // Per group and row, transposed ((G, NR): one group's rows are 2H
  // vectors): factor (scale, 2 scale at 1 bit) and shift (-scale zero,
  // mean - scale at 1 bit). Whole 8-group x 8-row tiles by an 8x8 transpose.
  thread_local std::vector<float> fbuf;
  if (int64_t(fbuf.size()) < 2 * NR * G) fbuf.resize(size_t(2 * NR * G));
  float* fac = fbuf.data();
  float* sft = fac + NR * G;
  const int64_t G8 = G / 8 * 8;  // zero_points() has 4 spare bytes, but 8 are read: only whole 8-groups
  for (int64_t h = 0; h < 2 * H; ++h)
    for (int64_t g = 0; g < G8; g += 8) {
      __m256 s[8], z[8], ts[8], tz[8];
      SLIM_UNROLL
      for (int l = 0; l < 8; ++l) {
        const int64_t row = r + 8 * h + l;
        s[l] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(P.scales.data() + row * G + g)));
        z[l] = _mm256_cvtepi32_ps(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(zero.data() + row * G + g))));
      }
      transpose_8x8_ps(s, ts);
      transpose_8x8_ps(z, tz);
      SLIM_UNROLL
      for (int i = 0; i < 8; ++i) {
        _mm256_storeu_ps(fac + (g + i) * NR + 8 * h, ts[i]);
        _mm256_storeu_ps(sft + (g + i) * NR + 8 * h, _mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), ts[i]), tz[i]));
      }
    }
  for (int64_t g = G8; g < G; ++g)
    for (int64_t l = 0; l < NR; ++l) {
      const float s = half(P.scales[size_t((r + l) * G + g)]);
      fac[g * NR + l] = s;
      sft[g * NR + l] = -s * float(zero[size_t((r + l) * G + g)]);
    }
  if (n1 > 0)
    for (int64_t g = 0; g < G; ++g)
      if (L.bits(g) == 1)
        for (int64_t l = 0; l < NR; ++l) {
          const float s = fac[g * NR + l];
          fac[g * NR + l] = 2.f * s;
          sft[g * NR + l] = half(P.offsets[size_t((r + l) * n1 + onecol[g])]) - s;
        }
  // int8_group reads up to 16 bytes past a group's planes in each row: past
  // the codes only in the matrix's last row, so there those groups are
  // copied, zero-padded, to `stage` first.
  const bool last_block = r + NR == L.rows();
  thread_local std::vector<uint8_t> stage;
  // Prefetch a share of the next block's (contiguous) codes per group, as the
  // exact LUT kernel does: 16 short row streams do not start the hardware prefetcher.
  const uint8_t* next = P.codes.data() + (r + NR) * rb;
  const int64_t next_bytes = std::max<int64_t>(0, std::min(NR, L.rows() - r - NR)) * rb;
  const int64_t share = (next_bytes / G + 63) / 64 * 64;
  for (int64_t t = t0; t < t1; ++t) {
    const int8_t* tqt = tq + t * tq_stride;
    __m256 yacc[H][2];
    SLIM_UNROLL
    for (int h = 0; h < H; ++h) yacc[h][0] = yacc[h][1] = _mm256_setzero_ps();
    for (int64_t g = 0; g < G; ++g) {
      if (t == t0)
        for (int64_t o = g * share; o < std::min(next_bytes, (g + 1) * share); o += 64)
          _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
      const int b = L.bits(g);
      const int64_t pb = plane_bytes(gcol[g + 1] - gcol[g]);
      const uint8_t* base = P.codes.data() + r * rb + goff[g];
      int64_t stride = rb;
      if (last_block && goff[g] + b * pb + 16 > rb) {
        const int64_t n = b * pb;
        stride = n + 16;
        stage.assign(size_t(NR * stride), 0);
        for (int64_t l = 0; l < NR; ++l) std::memcpy(stage.data() + l * stride, base + l * rb, size_t(n));
        base = stage.data();
      }
      const int8_t* tab = tqt + 4 * pcol[g];  // 16 entries per 4 columns
      __m256i acc[H][2];
      SLIM_UNROLL
      for (int h = 0; h < H; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_si256();
      switch (b) {
#define SLIM_INT8_CASE(B) \
  case B:                 \
    int8_group<B, H>(base, stride, pb, tab, acc); break;
        SLIM_INT8_CASE(1) SLIM_INT8_CASE(2) SLIM_INT8_CASE(3) SLIM_INT8_CASE(4)
        SLIM_INT8_CASE(5) SLIM_INT8_CASE(6) SLIM_INT8_CASE(7) SLIM_INT8_CASE(8)
#undef SLIM_INT8_CASE
      }
      const __m256 stg = _mm256_set1_ps(st[t * G + g]), xs = _mm256_set1_ps(in.xsum[t * G + g]);
      SLIM_UNROLL
      for (int h = 0; h < 2 * H; ++h) {
        const __m256 f = _mm256_loadu_ps(fac + g * NR + 8 * h);
        const __m256 s = _mm256_loadu_ps(sft + g * NR + 8 * h);
        __m256& ya = yacc[h / 2][h % 2];
        ya = _mm256_fmadd_ps(_mm256_mul_ps(f, stg), _mm256_cvtepi32_ps(acc[h / 2][h % 2]), ya);
        ya = _mm256_fmadd_ps(s, xs, ya);
      }
    }
    SLIM_UNROLL
    for (int h = 0; h < 2 * H; ++h) _mm256_storeu_ps(y + t * ldy + r + 8 * h, yacc[h / 2][h % 2]);
  }
}

#endif  // HWY_TARGET == HWY_AVX2
