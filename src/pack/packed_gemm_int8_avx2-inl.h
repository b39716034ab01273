// AVX2 prefill GEMM on int8 activations and unsigned byte codes (approximate;
// int8_gemm.h has the arithmetic, the code block layout and the scalar
// reference, which this equals bit for bit). Included by packed_kernels.cc
// once per Highway target, inside its namespace (no include guard on
// purpose); compiled for the x86 targets, AVX2 and AVX3 (the same AVX2
// intrinsics; not yet an AVX-512 VNNI kernel of its own). bench_kernels
// --gemm-only --target avx2, 2 threads, T = 512, 4096- and 11008-row layers:
// 456-495 GFLOP/s, 174-185 for the exact path; one thread 230-253, where a loop
// of nothing but vpmaddubsw + vpaddw on 4 tokens runs at ~287 on this Zen 5.
//
// Shape of the work: per thread a panel of 8-row code blocks (about
// tuning().panel_bytes / 4 codes, so that it stays in L2 like the fp32
// panel of the exact path), built from the bit planes by byte expansion and
// an 8x8 transpose of 4-byte words; then for every 4 tokens, every block of
// the panel: one 32-byte code vector (8 rows x 4 columns) against each
// token's 4 int8 activations broadcast, vpmaddubsw, eight of them summed in
// int16, widened by vpmaddwd once per 32 columns, the group's scale and shift
// applied in fp32 at the group's end. Lanes are rows, so nothing is reduced
// across lanes.
#if HWY_TARGET <= HWY_AVX2

// One token's activations, as quantize_gemm_acts (same float operations).
void gemm_acts_avx2(const PackedLinear& L, const float* x, int8_t* xq, float* sx, float* ssx) {
  const int64_t G = L.n_groups();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  alignas(32) static constexpr int32_t kIota[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const __m256i iota = _mm256_load_si256(reinterpret_cast<const __m256i*>(kIota));
  // Lanes i < n of x + c (the rest 0, not read).
  auto load_first = [&](const float* p, int64_t n) {
    if (n >= 8) return _mm256_loadu_ps(p);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), iota));
  };
  for (int64_t g = 0; g < G; ++g) {
    const float* src = x + gcol[size_t(g)];
    const int64_t w = gcol[size_t(g + 1)] - gcol[size_t(g)];
    int8_t* dst = xq + pcol[size_t(g)];
    const int64_t pw = pcol[size_t(g + 1)] - pcol[size_t(g)];  // a multiple of 16
    __m256 vm = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
    for (int64_t i = 0; i < w; i += 8) {
      const __m256 v = load_first(src + i, w - i);
      vm = _mm256_max_ps(vm, _mm256_and_ps(v, absmask));
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    float m = _mm_cvtss_f32(m4);
    if (_mm256_movemask_ps(nan) != 0) m = std::numeric_limits<float>::quiet_NaN();
    const float inv = m > 0.f && std::isfinite(m) ? 127.f / m : 0.f;
    __m256i sum = _mm256_setzero_si256();
    if (inv == 0.f) {
      std::memset(dst, 0, size_t(pw));
    } else {
      const __m256 vinv = _mm256_set1_ps(inv);
      for (int64_t i = 0; i < pw; i += 16) {
        const __m256 v0 = load_first(src + i, w - i), v1 = load_first(src + i + 8, w - i - 8);
        const __m256i q0 = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v0, vinv)), lo), hi);
        const __m256i q1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v1, vinv)), lo), hi);
        sum = _mm256_add_epi32(sum, _mm256_add_epi32(q0, q1));
        // packs works per 128-bit lane: (q0 0-3, q1 0-3 | q0 4-7, q1 4-7), put back in order.
        const __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
        const __m128i p8 = _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), p8);
      }
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    sx[g] = m / 127.f;
    ssx[g] = sx[g] * float(_mm_cvtsi128_si32(s4));
  }
}

// Quads (4 padded columns each) of a code block, rounded up to the 8 that
// one transpose writes.
inline int64_t gemm_block_quads(const PackedLinear& L) { return (L.padded_columns()[size_t(L.n_groups())] / 4 + 7) / 8 * 8; }

// Codes of one row's group of B-bit planes (pb bytes each) into d, 32
// columns (4 plane bytes) a step: each plane byte spread to 8 bytes (vpshufb),
// its bits tested (0 or 0xff) and masked to 2^j. A last step of 16 columns
// reads 2 bytes and writes 16 zero codes past the group, which the next
// group (or the row's zero tail) overwrites.
template <int B>
HWY_INLINE void expand_codes(const uint8_t* planes, int64_t pb, uint8_t* d) {
  const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                       2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bitm = _mm256_set1_epi64x(int64_t(0x8040201008040201ULL));
  for (int64_t o = 0; o < pb; o += 4) {
    const bool whole = pb - o >= 4;
    __m256i code = _mm256_setzero_si256();
    SLIM_UNROLL
    for (int j = 0; j < B; ++j) {
      uint32_t word = 0;
      if (whole)
        std::memcpy(&word, planes + j * pb + o, 4);
      else
        std::memcpy(&word, planes + j * pb + o, 2);
      const __m256i by = _mm256_shuffle_epi8(_mm256_set1_epi32(int32_t(word)), sel);
      const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(by, bitm), bitm);
      code = _mm256_or_si256(code, _mm256_and_si256(set, _mm256_set1_epi8(char(1 << j))));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 8 * o), code);
  }
}

// build_gemm_block's block (out: gemm_block_quads(L) x 32 bytes; quads past
// the padded columns are zero), with rowbuf (8, 4 gemm_block_quads(L) + 32)
// bytes of scratch: each row's codes expanded from its bit planes, then
// 8x8 transposes of 4-byte words.
void gemm_block_avx2(const PackedLinear& L, int64_t r0, uint8_t* out, float* a, float* b, uint8_t* rowbuf) {
  const int64_t G = L.n_groups(), R = L.rows(), nq = gemm_block_quads(L), stride = 4 * nq + 32;
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto goff = L.group_offsets();
  const int64_t kp = pcol[size_t(G)];
  for (int64_t i = 0; i < kGemmRows; ++i) {
    const int64_t r = r0 + i;
    uint8_t* dst = rowbuf + i * stride;
    if (r >= R) {
      std::memset(dst, 0, size_t(stride));
      for (int64_t g = 0; g < G; ++g) a[g * kGemmRows + i] = b[g * kGemmRows + i] = 0.f;
      continue;
    }
    for (int64_t g = 0; g < G; ++g) {
      const int64_t pb = plane_bytes(gcol[size_t(g + 1)] - gcol[size_t(g)]);
      const uint8_t* planes = L.parts().codes.data() + r * L.row_bytes() + goff[size_t(g)];  // (bits, pb)
      uint8_t* d = dst + pcol[size_t(g)];
      switch (L.bits(g)) {
        case 1: expand_codes<1>(planes, pb, d); break;
        case 2: expand_codes<2>(planes, pb, d); break;
        case 3: expand_codes<3>(planes, pb, d); break;
        default: expand_codes<4>(planes, pb, d); break;  // 1-4 bits only (gemm_int8_bits_fit)
      }
    }
    std::memset(dst + kp, 0, size_t(stride - kp));  // the tail, and what a last 16-column step wrote past kp
    gemm_coefs(L, r, a + i, b + i, kGemmRows);
  }
  for (int64_t n = 0; n < nq; n += 8) {  // rows' quads n..n+7 -> quad vectors n..n+7
    __m256i v[8];
    for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rowbuf + i * stride + 4 * n));
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(v[4], v[5]), t5 = _mm256_unpackhi_epi32(v[4], v[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(v[6], v[7]), t7 = _mm256_unpackhi_epi32(v[6], v[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    // u0 = quad 0 of rows 0-3 | quad 4 of rows 0-3, u4 the same for rows 4-7, ...
    const __m256i q[8] = {_mm256_permute2x128_si256(u0, u4, 0x20), _mm256_permute2x128_si256(u1, u5, 0x20),
                          _mm256_permute2x128_si256(u2, u6, 0x20), _mm256_permute2x128_si256(u3, u7, 0x20),
                          _mm256_permute2x128_si256(u0, u4, 0x31), _mm256_permute2x128_si256(u1, u5, 0x31),
                          _mm256_permute2x128_si256(u2, u6, 0x31), _mm256_permute2x128_si256(u3, u7, 0x31)};
    for (int k = 0; k < 8; ++k) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * (n + k)), q[k]);
  }
}

// acc16[t] += Σ over quads m0..m0+nq-1 of the codes (8 rows x 4 columns) times
// token t's 4 activations (int16 lanes; nq <= 8 keeps them in range).
// Why NQ: with the whole 8-quad chunk unrolled GCC keeps the four sums in
// place; as a runtime loop it copied each one every quad (4 vmovdqa of 19
// instructions per quad in objdump). Why the empty asm: unrolled, GCC
// re-associated the 32 int16 additions into a tree, keeping all 32 products
// live and spilling them to the stack (perf annotate); pinning each sum after
// its addition keeps the chain, and the kernel ran 1.6-1.7x faster.
template <int NQ>
HWY_INLINE void gemm_int8_quads(const uint8_t* blk, const int8_t* xq, int64_t kp, int64_t m0, int64_t nq,
                                __m256i (&acc16)[4]) {
  const int64_t n = NQ > 0 ? NQ : nq;
  SLIM_UNROLL
  for (int64_t m = m0; m < m0 + n; ++m) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 * m));
    SLIM_UNROLL
    for (int t = 0; t < 4; ++t) {
      int32_t x4;
      std::memcpy(&x4, xq + t * kp + 4 * m, 4);
      acc16[t] = _mm256_add_epi16(acc16[t], _mm256_maddubs_epi16(w, _mm256_set1_epi32(x4)));
      asm("" : "+x"(acc16[t]));  // keeps the sums in order (see above)
    }
  }
}

// The product of one 8-row block and 4 tokens (xq rows t0..t0+3 at stride
// kp; sx, ssx rows at stride G): out[t][i] = y of token t, row i.
HWY_INLINE void gemm_int8_tile(const PackedLinear& L, const uint8_t* blk, const float* a, const float* b,
                               const int8_t* xq, int64_t kp, const float* sx, const float* ssx, float (&out)[4][8]) {
  const int64_t G = L.n_groups();
  const auto pcol = L.padded_columns();
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 accf[4];
  SLIM_UNROLL
  for (int t = 0; t < 4; ++t) accf[t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < G; ++g) {
    const int64_t n1 = pcol[size_t(g + 1)] / 4;
    __m256i accg[4];
    SLIM_UNROLL
    for (int t = 0; t < 4; ++t) accg[t] = _mm256_setzero_si256();
    for (int64_t n = pcol[size_t(g)] / 4; n < n1; n += 8) {
      __m256i acc16[4];
      SLIM_UNROLL
      for (int t = 0; t < 4; ++t) acc16[t] = _mm256_setzero_si256();
      if (n1 - n >= 8)
        gemm_int8_quads<8>(blk, xq, kp, n, 8, acc16);
      else
        gemm_int8_quads<0>(blk, xq, kp, n, n1 - n, acc16);
      SLIM_UNROLL
      for (int t = 0; t < 4; ++t) accg[t] = _mm256_add_epi32(accg[t], _mm256_madd_epi16(acc16[t], ones));
    }
    const __m256 va = _mm256_loadu_ps(a + g * kGemmRows), vb = _mm256_loadu_ps(b + g * kGemmRows);
    SLIM_UNROLL
    for (int t = 0; t < 4; ++t) {
      const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(accg[t]), _mm256_set1_ps(sx[t * G + g]));
      accf[t] = _mm256_fmadd_ps(va, v, accf[t]);
      accf[t] = _mm256_fmadd_ps(vb, _mm256_set1_ps(ssx[t * G + g]), accf[t]);
    }
  }
  SLIM_UNROLL
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(out[t], accf[t]);
}

// y (T, rows) = x (T, cols) Wᵀ by the int8 GEMM (gemm_int8_applies(L)).
void gemm_int8_avx2(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  const int64_t R = L.rows(), G = L.n_groups(), kp = L.padded_columns()[size_t(G)];
  const int64_t T4 = (T + kGemmTokens - 1) / kGemmTokens * kGemmTokens, nq = gemm_block_quads(L);
  // (T4, kp) int8 activations, (T4, G) scales and shifts; rows past T zero.
  int8_t* xq = reinterpret_cast<int8_t*>(thread_scratch(0, T4 * kp / 4 + 1));
  float* sx = thread_scratch(1, 2 * T4 * G);
  float* ssx = sx + T4 * G;
#pragma omp parallel for schedule(static) if (T * kp >= (int64_t(1) << 16))
  for (int64_t t = 0; t < T; ++t) gemm_acts_avx2(L, x + t * ldx, xq + t * kp, sx + t * G, ssx + t * G);
  std::memset(xq + T * kp, 0, size_t((T4 - T) * kp));
  std::fill(sx + T * G, sx + T4 * G, 0.f);
  std::fill(ssx + T * G, ssx + T4 * G, 0.f);
  // Blocks per panel: about tuning().panel_bytes / 4 codes (the fp32 panel's weights).
  const int64_t nblk = (R + kGemmRows - 1) / kGemmRows;
  const int64_t per = std::clamp<int64_t>(tuning().panel_bytes / 4 / (kGemmRows * 4 * nq), 1, nblk);
  const int64_t n_panels = (nblk + per - 1) / per;
  const int64_t blk_bytes = 32 * nq, coef_floats = 2 * G * kGemmRows, rowbuf_bytes = kGemmRows * (4 * nq + 32);
#pragma omp parallel for schedule(dynamic, 1) if (n_panels > 1)
  for (int64_t p = 0; p < n_panels; ++p) {
    const int64_t b0 = p * per, b1 = std::min(nblk, b0 + per);
    // (per, nq, 32) codes, (per, 2, G, 8) coefficients, the row scratch.
    float* coefs = thread_scratch(2, per * coef_floats + (per * blk_bytes + rowbuf_bytes) / 4 + 1);
    uint8_t* codes = reinterpret_cast<uint8_t*>(coefs + per * coef_floats);
    uint8_t* rowbuf = codes + per * blk_bytes;
    for (int64_t k = b0; k < b1; ++k) {
      float* a = coefs + (k - b0) * coef_floats;
      gemm_block_avx2(L, k * kGemmRows, codes + (k - b0) * blk_bytes, a, a + G * kGemmRows, rowbuf);
    }
    float out[4][8];
    for (int64_t t0 = 0; t0 < T4; t0 += kGemmTokens)
      for (int64_t k = b0; k < b1; ++k) {
        const float* a = coefs + (k - b0) * coef_floats;
        gemm_int8_tile(L, codes + (k - b0) * blk_bytes, a, a + G * kGemmRows, xq + t0 * kp, kp, sx + t0 * G,
                       ssx + t0 * G, out);
        const int64_t r0 = k * kGemmRows, nr = std::min(kGemmRows, R - r0);
        for (int64_t t = t0; t < std::min(T, t0 + kGemmTokens); ++t)
          std::memcpy(y + t * ldy + r0, out[t - t0], size_t(nr) * sizeof(float));
      }
  }
}

#endif  // HWY_TARGET <= HWY_AVX2
