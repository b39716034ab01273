// AVX2 GEMV on int8 subset-sum tables (approximate; int8_gemv.h has the
// tables, the tile layout of the codes and the scalar reference). Included by
// packed_kernels.cc once per Highway target, inside its namespace (no include
// guard on purpose); compiled for AVX2 and AVX3 (the same AVX2 intrinsics:
// on an Intel Emerald Rapids, 7 Dec 2026, they ran the decode GEMV 1.8-2.7x
// faster than the exact AVX-512 LUT kernel, bench_kernels --gemv-only
// --threads 1 hot: avg2 306 vs 543 us, uni4 388 vs 1005 us on 4096x4096).
//
// Why: the exact fp32 LUT kernel (packed_gemv_lut_avx2-inl.h) needs two
// vpermps + a blend per 8 rows x 4 columns of one plane and is bound by the
// permutes (perf: ~40% of its samples on vpermps/vblendvps/FMA). vpshufb looks
// up 32 int8 entries at once, so here one instruction covers 16 rows x 2 planes
// x 4 columns.
//
// Layout of a lookup: a 128-bit lane holds 8 rows x 2 planes (byte 2r = plane
// j, byte 2r + 1 = plane j + 1 of row r; the high lane rows 8..15), all for the
// same byte k of the planes (columns 8k..8k+7 = 4-column blocks 2k and 2k + 1).
// The low and high nibbles index the two blocks' tables; vpmaddubsw with
// weights (1, 2) then adds the two planes of each row into an int16 lane =
// row. The codes are read in that layout from PackedLinear::int8_tiles(),
// built once (at load by slim generate, else at the first product): an
// earlier version transposed 16 rows of bit planes per 512 bytes (a 16x16
// byte transpose, 64 unpacks, whose 32 live vectors spilled: ~3.6 stack
// moves per lookup).
// Overflow: see int8_group; chunks are widened to int32 before the plane
// weight 2^j.
#if HWY_TARGET <= HWY_AVX2

constexpr int64_t kInt8Rows = 16;
// Software prefetch distance (bytes ahead in a plane pair's tile stream).
// Why: after the tile layout, perf put the samples on the instructions right
// after each tile load and on the prefetches (memory stalls; 60% of a 1-thread
// RTN 4-bit decode). docs/RESULTS.md (int8 step 4) has the sweeps: on a
// slow-memory state (22-36 GB/s) 1024 B beat 0 and 2048 B; on a fast one
// (61-83 GB/s) 4096 B beat 1024 B: TinyLlama RTN 4-bit decode 38-42 vs
// 31-32 tok/s (2 threads), 29-33 vs 22-23 (1 thread); 8192 and 16384 B no
// better than 4096. 7 Dec 2026 (slow-memory state, 30-40 GB/s), TinyLlama
// RTN 4-bit decode, 7 alternated rounds: 8192 B ahead of 4096 in 6 of 7 on
// one thread (26.5-30.2 vs 22.8-29.3 tok/s), even on two (38.8-50.7 vs
// 38.6-51.1) and for SliM 2-bit; 16384 B no better than 8192. Prefetching
// past the end of the buffer is harmless.
constexpr int64_t kInt8Prefetch = 8192;

// One lookup step: sum (int16 lanes: rows 0..7 low lane, 8..15 high lane)
// += ta[low nibble of v] + tb[high nibble], each byte pair combined by
// vpmaddubsw with weights (1, 2): a plane pair of 16 rows.
HWY_INLINE __m256i int8_lookup(__m256i sum, __m256i v, __m256i ta, __m256i tb) {
  const __m256i nib = _mm256_set1_epi8(0x0f), w12 = _mm256_set1_epi16(0x0201);
  const __m256i lo = _mm256_and_si256(v, nib), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
  sum = _mm256_add_epi16(sum, _mm256_maddubs_epi16(w12, _mm256_shuffle_epi8(ta, lo)));
  return _mm256_add_epi16(sum, _mm256_maddubs_epi16(w12, _mm256_shuffle_epi8(tb, hi)));
}

// acc (rows 0..7, 8..15) += chunk sums (int16) << j.
HWY_INLINE void widen_add(__m256i s16, int j, __m256i (&acc)[2]) {
  const __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s16));
  const __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s16, 1));
  const __m128i sh = _mm_cvtsi32_si128(j);
  acc[0] = _mm256_add_epi32(acc[0], _mm256_sll_epi32(lo, sh));
  acc[1] = _mm256_add_epi32(acc[1], _mm256_sll_epi32(hi, sh));
}

// The lone (odd) plane of a group, two bytes k, k + 1 per step: v (32 bytes of
// the tiles: bytes 0..15 = rows 0..15 at byte k, 16..31 = the same rows at
// byte k + 1), tables t = the group's tables at block 2k (blocks 2k .. 2k + 3
// in slots 0, 2, 1, 3: int8_table_slot). Each 128-bit lane looks up its own byte's two
// tables; the two lookups of a row are interleaved into byte pairs and summed
// by vpmaddubsw with weights (1, 1) into one int16 lane: s0 += rows 0..7 (low
// lane: byte k, high lane: byte k + 1), s1 += rows 8..15.
// Why: read as a plane pair with a zero partner (vpmovzxbw, 16 bytes per
// step), a lone plane cost as much as a pair, so a 3-bit group cost as much as
// a 4-bit one and a 1-bit group as much as a 2-bit one (bench_kernels: uni3
// 383 us against uni4 374 us); this step does 32 code bytes in 11 operations
// where the padded one did 16 in 9 (13 before int8_table_slot made its tables
// two plain loads instead of four halves and two lane inserts: uni1 277 ->
// 268 us, uni3 348-363 -> 319-337 us, 1 thread hot, Emerald Rapids).
HWY_INLINE void int8_lone_step(__m256i v, const int8_t* t, __m256i& s0, __m256i& s1) {
  const __m256i nib = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi8(1);
  // Blocks [2k | 2k + 2] (low nibbles), [2k + 1 | 2k + 3] (high nibbles).
  const __m256i ta = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t));
  const __m256i tb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + 32));
  const __m256i lo = _mm256_and_si256(v, nib), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
  const __m256i la = _mm256_shuffle_epi8(ta, lo), lb = _mm256_shuffle_epi8(tb, hi);
  s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(ones, _mm256_unpacklo_epi8(la, lb)));
  s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(ones, _mm256_unpackhi_epi8(la, lb)));
}

// acc (rows 0..7, 8..15) += Σ q tq over one B-bit group of pb bytes a plane
// for a 16-row block: s its tiles, tab the group's first block table. Byte k
// of a chunk outermost, so that its two tables are loaded once for all planes
// (with the planes outermost the compiler hoisted a chunk's 32 tables and
// spilled them).
// Overflow: a pair's int16 lane sums 16 steps x 2 lookups x 3 x 127 = 12192,
// the lone plane's 8 steps x 2 x 127 per lane, 4064 once its lanes are folded.
template <int B>
HWY_INLINE void int8_group(const uint8_t* s, int64_t pb, const int8_t* tab, __m256i (&acc)[2]) {
  constexpr int NP = B / 2;  // plane pairs (the lone odd plane after them)
  for (int64_t o = 0; o < pb; o += 16) {
    const int64_t kc = std::min<int64_t>(16, pb - o);  // even: pb is
    const int8_t* t = tab + 32 * o;
    const uint8_t* lone = s + 32 * NP * kc;
    __m256i sum[NP > 0 ? NP : 1], l0 = _mm256_setzero_si256(), l1 = l0;
    SLIM_UNROLL
    for (int p = 0; p < NP; ++p) sum[p] = _mm256_setzero_si256();
    for (int64_t k = 0; k < kc; k += 2) {
      // One prefetch per 64-byte line of every plane pair's stream; the lone
      // stream (16 bytes per k) every other step.
      SLIM_UNROLL
      for (int p = 0; p < NP; ++p) _mm_prefetch(reinterpret_cast<const char*>(s + 32 * (p * kc + k) + kInt8Prefetch), _MM_HINT_T0);
      if constexpr (B % 2 == 1)
        if (k % 4 == 0) _mm_prefetch(reinterpret_cast<const char*>(lone + 16 * k + kInt8Prefetch), _MM_HINT_T0);
      if constexpr (NP > 0) {
        SLIM_UNROLL
        for (int64_t kk = k; kk < k + 2; ++kk) {
          // Blocks 2kk, 2kk + 1: slots 0, 2 (kk = k) or 1, 3 (int8_table_slot).
          const int8_t* q = t + 32 * k + 16 * (kk - k);
          const __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
          const __m256i tb = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 32)));
          SLIM_UNROLL
          for (int p = 0; p < NP; ++p)
            sum[p] = int8_lookup(sum[p], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32 * (p * kc + kk))),
                                 ta, tb);
        }
      }
      if constexpr (B % 2 == 1)
        int8_lone_step(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lone + 16 * k)), t + 32 * k, l0, l1);
    }
    SLIM_UNROLL
    for (int p = 0; p < NP; ++p) widen_add(sum[p], 2 * p, acc);
    if constexpr (B % 2 == 1)  // fold the lanes (bytes k, k + 1): rows 0..7 low, 8..15 high
      widen_add(_mm256_add_epi16(_mm256_permute2x128_si256(l0, l1, 0x20), _mm256_permute2x128_si256(l0, l1, 0x31)),
                B - 1, acc);
    s += (32 * NP + 16 * (B % 2)) * kc;
  }
}

// int8_group for a runtime width b (1..8).
HWY_INLINE void int8_group(int b, const uint8_t* s, int64_t pb, const int8_t* tab, __m256i (&acc)[2]) {
  switch (b) {
#define SLIM_INT8_GROUP(B) \
  case B:                  \
    return int8_group<B>(s, pb, tab, acc);
    SLIM_INT8_GROUP(1) SLIM_INT8_GROUP(2) SLIM_INT8_GROUP(3) SLIM_INT8_GROUP(4)
    SLIM_INT8_GROUP(5) SLIM_INT8_GROUP(6) SLIM_INT8_GROUP(7) SLIM_INT8_GROUP(8)
#undef SLIM_INT8_GROUP
  }
}

// The 16 subset sums of x[0..3] as two vectors, entries 0..7 and 8..15, by
// the reference's additions (int8_gemv.cc: entry v = entry v - 2^top +
// x[top]): [0, x0, x1, x0 + x1], then + x2, then all + x3.
HWY_INLINE void subset_sums_avx2(const float* x, __m256& lo, __m256& hi) {
  const __m128 v = _mm_loadu_ps(x), z = _mm_setzero_ps();
  const __m128 a = _mm_add_ps(_mm_blend_ps(z, _mm_shuffle_ps(v, v, 0x00), 0xa),   // [0, x0, 0, x0]
                              _mm_blend_ps(z, _mm_shuffle_ps(v, v, 0x55), 0xc));  // + [0, 0, x1, x1]
  lo = _mm256_set_m128(_mm_add_ps(a, _mm_shuffle_ps(v, v, 0xaa)), a);
  hi = _mm256_add_ps(lo, _mm256_set1_ps(x[3]));
}

// build_int8_tables (int8_gemv.cc, the reference) vectorised, byte for byte
// the same (tests/packed_linear_test.cc, Int8TablesMatchReference): the same
// sums, the same max, cvtps rounding to nearest even like std::nearbyint. Why:
// built per token on the calling thread before the rows are split, the scalar
// tables were ~6% of a 4096-column product's work on one thread and ~12% of
// its wall time on two (perf, bench_kernels --int8).
HWY_INLINE void int8_tables_avx2(const PackedLinear& L, const float* xp, int8_t* tq, float* st) {
  const int64_t G = L.n_groups();
  const auto pcol = L.padded_columns();
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 lim = _mm256_set1_ps(127.f), nlim = _mm256_set1_ps(-127.f);
  for (int64_t g = 0; g < G; ++g) {
    const int64_t n0 = pcol[size_t(g)] / 4, n1 = pcol[size_t(g + 1)] / 4;
    __m256 mv = _mm256_setzero_ps();
    for (int64_t n = n0; n < n1; ++n) {
      __m256 lo, hi;
      subset_sums_avx2(xp + 4 * n, lo, hi);
      // max(abs, mv): a NaN entry leaves mv as std::max(m, NaN) leaves m.
      mv = _mm256_max_ps(_mm256_and_ps(lo, abs_mask), mv);
      mv = _mm256_max_ps(_mm256_and_ps(hi, abs_mask), mv);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 0x55));
    const float m = _mm_cvtss_f32(m4);
    st[g] = m / 127.f;
    const __m256 inv = _mm256_set1_ps(m > 0.f ? 127.f / m : 0.f);
    for (int64_t n = n0; n < n1; ++n) {
      __m256 lo, hi;
      subset_sums_avx2(xp + 4 * n, lo, hi);
      // Rounded, then clamped as the reference does (max first: NaN -> -127).
      const __m256 ql = _mm256_min_ps(_mm256_max_ps(_mm256_round_ps(_mm256_mul_ps(lo, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), nlim), lim);
      const __m256 qh = _mm256_min_ps(_mm256_max_ps(_mm256_round_ps(_mm256_mul_ps(hi, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), nlim), lim);
      // int32 -> int16 packs per 128-bit lane: [l0-3 h0-3 | l4-7 h4-7]; reorder, then to bytes.
      const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(_mm256_cvtps_epi32(ql), _mm256_cvtps_epi32(qh)), 0xd8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(tq + 16 * int8_table_slot(n)),
                       _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
    }
  }
}

// v[c] (c < 8) = 16-bit element c of each of v[0..7], in each 128-bit lane
// on its own: an 8x8 transpose of 16-bit elements, per lane.
HWY_INLINE void transpose_8x8_epi16_lanes(__m256i (&v)[8]) {
  __m256i a[8], b[8];
  SLIM_UNROLL
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm256_unpacklo_epi16(v[2 * i], v[2 * i + 1]);      // rows 2i, 2i+1: elements 0..3
    a[2 * i + 1] = _mm256_unpackhi_epi16(v[2 * i], v[2 * i + 1]);  // elements 4..7
  }
  SLIM_UNROLL
  for (int i = 0; i < 2; ++i) {
    b[4 * i] = _mm256_unpacklo_epi32(a[4 * i], a[4 * i + 2]);          // 4 rows: elements 0, 1
    b[4 * i + 1] = _mm256_unpackhi_epi32(a[4 * i], a[4 * i + 2]);      // 2, 3
    b[4 * i + 2] = _mm256_unpacklo_epi32(a[4 * i + 1], a[4 * i + 3]);  // 4, 5
    b[4 * i + 3] = _mm256_unpackhi_epi32(a[4 * i + 1], a[4 * i + 3]);  // 6, 7
  }
  SLIM_UNROLL
  for (int i = 0; i < 4; ++i) {
    v[2 * i] = _mm256_unpacklo_epi64(b[i], b[4 + i]);      // element 2i of the 8 rows
    v[2 * i + 1] = _mm256_unpackhi_epi64(b[i], b[4 + i]);  // element 2i + 1
  }
}

// 16 bytes of row r's plane at p[r] (the first kc only when kc < 16; the
// rest read as 0, never past the group).
HWY_INLINE __m128i tile_load16(const uint8_t* p, int64_t kc) {
  if (kc == 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  alignas(16) uint8_t t[16] = {};
  std::memcpy(t, p, size_t(kc));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
}

// build_int8_tiles (int8_gemv.cc, the reference) by 16x16 transposes instead
// of byte-by-byte scattered stores (the same walk: for_each_int8_tile_chunk),
// byte for byte the same (test
// Int8TilesMatchReference). Why: the scalar build took 0.46-0.65 s for the
// 262 MiB of a TinyLlama-shaped SliM 2-bit model at load (slim generate).
HWY_INLINE void int8_tiles_avx2(const PackedLinear& L, uint8_t* out) {
  for_each_int8_tile_chunk(
      L, out,
      [](const uint8_t* const* row, int64_t pb, int j, int64_t o, int64_t kc, uint8_t* o8) {
        // e[r]: 16-bit element k = (plane j, plane j + 1) of row r at byte o + k.
        __m256i lo[8], hi[8];  // rows 0..7, 8..15
        for (int r = 0; r < 16; ++r) {
          const __m128i A = tile_load16(row[r] + j * pb + o, kc), B = tile_load16(row[r] + (j + 1) * pb + o, kc);
          (r < 8 ? lo[r] : hi[r - 8]) = _mm256_set_m128i(_mm_unpackhi_epi8(A, B), _mm_unpacklo_epi8(A, B));
        }
        transpose_8x8_epi16_lanes(lo);  // lo[k]: k of rows 0..7 (low lane), 8 + k (high lane)
        transpose_8x8_epi16_lanes(hi);
        for (int64_t k = 0; k < kc; ++k) {
          const __m256i v = k < 8 ? _mm256_permute2x128_si256(lo[k], hi[k], 0x20)
                                  : _mm256_permute2x128_si256(lo[k - 8], hi[k - 8], 0x31);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o8 + 32 * k), v);
        }
      },
      [](const uint8_t* const* row, int64_t pb, int j, int64_t o, int64_t kc, uint8_t* o8) {
        // The lone plane: rows r and 8 + r paired as above, then each lane's
        // bytes deinterleaved back to rows 0..15 (the even bytes, then the odd).
        const __m256i deinterleave = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                                      0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        __m256i e[8];
        for (int r = 0; r < 8; ++r) {
          const __m128i A = tile_load16(row[r] + j * pb + o, kc), B = tile_load16(row[r + 8] + j * pb + o, kc);
          e[r] = _mm256_set_m128i(_mm_unpackhi_epi8(A, B), _mm_unpacklo_epi8(A, B));
        }
        transpose_8x8_epi16_lanes(e);
        for (int64_t k = 0; k < kc; ++k) {
          const __m256i v = _mm256_shuffle_epi8(e[k % 8], deinterleave);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o8 + 16 * k),
                           k < 8 ? _mm256_castsi256_si128(v) : _mm256_extracti128_si256(v, 1));
        }
      });
}

// Rows r..r + 15, tokens [t0, t1): y[t][r..] = Σ_g scale st Σq x + shift
// xsum. tiles: L.int8_tiles(); tq (T, tq_stride) int8 tables, st (T, G)
// their scales. Each 16-row block's factors come from the tiles' per-block
// scales (int8_gemv.h), so that no (rows, G) array is gathered here.
HWY_NOINLINE void int8_block(const PackedLinear& L, const GemvInput& in, const uint8_t* tiles, const int8_t* tq,
                             int64_t tq_stride, const float* st, int64_t r, int64_t t0, int64_t t1, float* y,
                             int64_t ldy) {
  constexpr int64_t NR = kInt8Rows;
  const int64_t G = L.n_groups(), rb = L.row_bytes();
  const auto goff = L.group_offsets();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto onecol = L.onebit_column();
  // Per group and row, transposed ((G, NR): one group's rows are 2 vectors):
  // factor (scale, 2 scale at 1 bit) and shift (-scale zero, mean - scale at
  // 1 bit), from this block's scales as the tiles hold them (int8_gemv.h).
  thread_local std::vector<float> fbuf;
  if (int64_t(fbuf.size()) < 2 * NR * G) fbuf.resize(size_t(2 * NR * G));
  float* fac = fbuf.data();
  float* sft = fac + NR * G;
  const Int8Meta lay = int8_meta_layout(L);
  const uint8_t* meta = tiles + lay.start + r / NR * lay.bytes;
  const uint16_t* msc = reinterpret_cast<const uint16_t*>(meta);                  // (G, NR) fp16
  const uint8_t* mzr = meta + lay.zeros;                                           // (G, NR)
  const uint16_t* mmean = reinterpret_cast<const uint16_t*>(meta + lay.means);     // (n1, NR) fp16
  for (int64_t g = 0; g < G; ++g) {
    const bool one = onecol[g] >= 0;
    SLIM_UNROLL
    for (int h = 0; h < 2; ++h) {
      const __m256 s = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(msc + g * NR + 8 * h)));
      if (!one) {
        const __m256 z = _mm256_cvtepi32_ps(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mzr + g * NR + 8 * h))));
        _mm256_storeu_ps(fac + g * NR + 8 * h, s);
        _mm256_storeu_ps(sft + g * NR + 8 * h, _mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), s), z));
      } else {
        const __m256 m = _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(mmean + int64_t(onecol[g]) * NR + 8 * h)));
        _mm256_storeu_ps(fac + g * NR + 8 * h, _mm256_add_ps(s, s));
        _mm256_storeu_ps(sft + g * NR + 8 * h, _mm256_sub_ps(m, s));
      }
    }
  }
  const uint8_t* block = tiles + r * rb;  // (16 rb) this block's tiles
  for (int64_t t = t0; t < t1; ++t) {
    const int8_t* tqt = tq + t * tq_stride;
    __m256 yacc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t g = 0; g < G; ++g) {
      const int b = L.bits(g);
      __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      int8_group(b, block + 16 * goff[g], plane_bytes(gcol[g + 1] - gcol[g]), tqt + 4 * pcol[g], acc);
      const __m256 stg = _mm256_set1_ps(st[t * G + g]), xs = _mm256_set1_ps(in.xsum[t * G + g]);
      SLIM_UNROLL
      for (int h = 0; h < 2; ++h) {
        const __m256 f = _mm256_loadu_ps(fac + g * NR + 8 * h);
        const __m256 s = _mm256_loadu_ps(sft + g * NR + 8 * h);
        yacc[h] = _mm256_fmadd_ps(_mm256_mul_ps(f, stg), _mm256_cvtepi32_ps(acc[h]), yacc[h]);
        yacc[h] = _mm256_fmadd_ps(s, xs, yacc[h]);
      }
    }
    SLIM_UNROLL
    for (int h = 0; h < 2; ++h) _mm256_storeu_ps(y + t * ldy + r + 8 * h, yacc[h]);
  }
}

#endif  // HWY_TARGET <= HWY_AVX2
