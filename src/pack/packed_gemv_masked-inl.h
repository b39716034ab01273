// The bit-plane GEMV with one row per vector (any row count; the AVX2 path
// and the AVX-512 path for rows the LUT kernel does not cover). Included by
// packed_kernels.cc once per Highway target, inside its namespace; no include
// guard on purpose (foreach_target.h re-includes it per target).
//
// Σ_i q_i x_i over a group is Σ_j 2^j Σ_{i: bit j of q_i} x_i. A 16-column
// chunk of plane j is a 16-bit lane mask: on AVX-512 a masked add (plane 0) or
// masked FMA with 2^j (planes >= 1); AVX2 has no mask registers, so there a
// mask byte indexes a 256-entry table of 8 floats 0.0/1.0 and an FMA of that
// row with 2^j x adds x under the mask (NEON alike, its 4 lanes taking half a
// table row). Each row's per-group vector sum is
// scaled into a running vector, reduced once per row at the end.

// (256, 8) bit k of the index -> lane k is 1.0f (AVX2 mask expansion).
struct MaskTable {
  alignas(64) float v[256][8];
  MaskTable() {
    for (int i = 0; i < 256; ++i)
      for (int k = 0; k < 8; ++k) v[i][k] = float((i >> k) & 1);
  }
};
const MaskTable& mask_table() {
  static const MaskTable t;
  return t;
}

// Independent accumulation chains per (row, token), up to 4: one chain would
// be bound by masked-add/FMA latency rather than throughput.
template <int B>
constexpr int kChains = B * kVecs < 4 ? B * kVecs : 4;

// sum[rr][t] = Σ over the group's chunks of q x (as a vector to reduce later),
// for R rows (plane pointers planes[rr], plane stride pb bytes) and TT tokens
// (x rows xg + t * xstride, zero-padded to whole chunks).
template <int B, int R, int TT>
HWY_INLINE void group_dot(const uint8_t* const* planes, int64_t pb, int64_t nchunk, const float* xg, int64_t xstride,
                          VF (&sum)[R][TT]) {
  const DF d;
  constexpr int C = kChains<B>;
  VF acc[R][TT][C];
  SLIM_UNROLL
  for (int rr = 0; rr < R; ++rr)
    SLIM_UNROLL
    for (int t = 0; t < TT; ++t)
      SLIM_UNROLL
      for (int c = 0; c < C; ++c) acc[rr][t][c] = hn::Zero(d);
  if constexpr (kMaskRegs) {
    // Two chunks at a time: their 32 bits broadcast and each chunk's 16 bits
    // tested into a mask (vptestmd, a vector op) rather than moved GPR -> k
    // (kmovw), which measured ~1.7x slower in isolation on Zen 5.
    const DI di;
    const auto lo = hn::Shl(hn::Set(di, 1), hn::Iota(di, 0));        // lane i: bit i (first chunk)
    const auto hi = hn::Shl(hn::Set(di, 1 << 16), hn::Iota(di, 0));  // lane i: bit 16 + i (second chunk)
    int64_t k = 0;
    for (; k + 1 < nchunk; k += 2) {
      VF x0[TT], x1[TT];
      SLIM_UNROLL
      for (int t = 0; t < TT; ++t) {
        x0[t] = hn::LoadU(d, xg + t * xstride + 16 * k);
        x1[t] = hn::LoadU(d, xg + t * xstride + 16 * k + 16);
      }
      SLIM_UNROLL
      for (int j = 0; j < B; ++j) {
        const VF p2 = hn::Set(d, float(1 << j));
        SLIM_UNROLL
        for (int rr = 0; rr < R; ++rr) {
          uint32_t bits;
          std::memcpy(&bits, planes[rr] + j * pb + 2 * k, 4);
          const auto w = hn::Set(di, int32_t(bits));
          const auto m0 = hn::RebindMask(d, hn::TestBit(w, lo));
          const auto m1 = hn::RebindMask(d, hn::TestBit(w, hi));
          SLIM_UNROLL
          for (int t = 0; t < TT; ++t) {
            VF& a = acc[rr][t][j % C];
            if (j == 0) {
              a = hn::IfThenElse(m0, hn::Add(a, x0[t]), a);
              a = hn::IfThenElse(m1, hn::Add(a, x1[t]), a);
            } else {
              a = hn::IfThenElse(m0, hn::MulAdd(x0[t], p2, a), a);
              a = hn::IfThenElse(m1, hn::MulAdd(x1[t], p2, a), a);
            }
          }
        }
      }
    }
    for (; k < nchunk; ++k) {  // an odd last chunk
      VF x[TT];
      SLIM_UNROLL
      for (int t = 0; t < TT; ++t) x[t] = hn::LoadU(d, xg + t * xstride + 16 * k);
      SLIM_UNROLL
      for (int j = 0; j < B; ++j) {
        const VF p2 = hn::Set(d, float(1 << j));
        SLIM_UNROLL
        for (int rr = 0; rr < R; ++rr) {
          const auto m = hn::LoadMaskBits(d, planes[rr] + j * pb + 2 * k);
          SLIM_UNROLL
          for (int t = 0; t < TT; ++t) {
            VF& a = acc[rr][t][j % C];
            a = j == 0 ? hn::IfThenElse(m, hn::Add(a, x[t]), a) : hn::IfThenElse(m, hn::MulAdd(x[t], p2, a), a);
          }
        }
      }
    }
  } else {
    const float(*lut)[8] = mask_table().v;
    for (int64_t k = 0; k < nchunk; ++k) {
      VF x[TT][kVecs];
      SLIM_UNROLL
      for (int t = 0; t < TT; ++t)
        SLIM_UNROLL
        for (int h = 0; h < kVecs; ++h) x[t][h] = hn::LoadU(d, xg + t * xstride + 16 * k + h * kLanes);
      SLIM_UNROLL
      for (int j = 0; j < B; ++j) {
        const VF p2 = hn::Set(d, float(1 << j));
        VF xj[TT][kVecs];
        SLIM_UNROLL
        for (int t = 0; t < TT; ++t)
          SLIM_UNROLL
          for (int h = 0; h < kVecs; ++h) xj[t][h] = j == 0 ? x[t][h] : hn::Mul(x[t][h], p2);
        SLIM_UNROLL
        for (int rr = 0; rr < R; ++rr)
          SLIM_UNROLL
          for (int h = 0; h < kVecs; ++h) {
            // Vector h covers columns h kLanes.. of the chunk: with 8 lanes a
            // whole mask byte, with 4 lanes half of one.
            const VF m = hn::Load(d, lut[planes[rr][j * pb + 2 * k + h * int(kLanes) / 8]] + h * int(kLanes) % 8);
            SLIM_UNROLL
            for (int t = 0; t < TT; ++t) {
              VF& a = acc[rr][t][(j * kVecs + h) % C];
              a = hn::MulAdd(m, xj[t][h], a);
            }
          }
      }
    }
  }
  SLIM_UNROLL
  for (int rr = 0; rr < R; ++rr)
    SLIM_UNROLL
    for (int t = 0; t < TT; ++t) {
      VF s = acc[rr][t][0];
      SLIM_UNROLL
      for (int c = 1; c < C; ++c) s = hn::Add(s, acc[rr][t][c]);
      sum[rr][t] = s;
    }
}

// R rows r..r+R-1, tokens t0..t0+TT-1.
template <int R, int TT>
HWY_NOINLINE void gemv_block(const PackedLinear& L, const GemvInput& in, int64_t r, int64_t t0, float* y,
                             int64_t ldy) {
  const DF d;
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit();
  const auto goff = L.group_offsets();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
  const auto zero = L.zero_points();
  const auto onecol = L.onebit_column();
  VF total[R][TT];
  float term[R][TT] = {};
  for (int rr = 0; rr < R; ++rr)
    for (int t = 0; t < TT; ++t) total[rr][t] = hn::Zero(d);
  const float* x0 = in.xp + t0 * in.xstride;
  const float* xs0 = in.xsum + t0 * G;  // (TT, G) rows of the group sums
  // Prefetch a share of the next R rows (contiguous) per group, as the LUT
  // kernel does: the hardware prefetcher does not ramp up on short row streams.
  const uint8_t* next = P.codes.data() + (r + R) * L.row_bytes();
  const int64_t next_bytes = std::max<int64_t>(0, std::min<int64_t>(R, L.rows() - r - R)) * L.row_bytes();
  const int64_t share = (next_bytes / G + 63) / 64 * 64;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t o = g * share; o < std::min(next_bytes, (g + 1) * share); o += 64)
      arch::prefetch(next + o);
    const int b = L.bits(g);
    const int64_t pb = plane_bytes(gcol[g + 1] - gcol[g]);
    const uint8_t* planes[R];
    for (int rr = 0; rr < R; ++rr) planes[rr] = P.codes.data() + (r + rr) * L.row_bytes() + goff[g];
    VF acc[R][TT];  // Σ q x of this group
    const float* xg = x0 + pcol[g];
    switch (b) {
#define SLIM_GROUP_CASE(B) \
  case B:                  \
    group_dot<B, R, TT>(planes, pb, pb / 2, xg, in.xstride, acc); break;
      SLIM_GROUP_CASE(1) SLIM_GROUP_CASE(2) SLIM_GROUP_CASE(3) SLIM_GROUP_CASE(4)
      SLIM_GROUP_CASE(5) SLIM_GROUP_CASE(6) SLIM_GROUP_CASE(7) SLIM_GROUP_CASE(8)
#undef SLIM_GROUP_CASE
    }
    for (int rr = 0; rr < R; ++rr) {
      const float scale = half(P.scales[size_t((r + rr) * G + g)]);
      float factor, shift;  // group result = factor Σqx + shift Σx
      if (b == 1) {
        factor = 2.f * scale;
        shift = half(P.offsets[size_t((r + rr) * n1 + onecol[g])]) - scale;
      } else {
        factor = scale;
        shift = -scale * float(zero[size_t((r + rr) * G + g)]);
      }
      const VF f = hn::Set(d, factor);
      for (int t = 0; t < TT; ++t) {
        total[rr][t] = hn::MulAdd(f, acc[rr][t], total[rr][t]);
        term[rr][t] += shift * xs0[t * G + g];
      }
    }
  }
  for (int rr = 0; rr < R; ++rr)
    for (int t = 0; t < TT; ++t) y[(t0 + t) * ldy + r + rr] = hn::GetLane(hn::SumOfLanes(d, total[rr][t])) + term[rr][t];
}

// Rows [r, r + R), tokens [t0, t1) in passes of 4, 2, 1 (the block's codes
// stay in L1 between passes; a pass of TT tokens shares each mask TT times).
template <int R>
void gemv_rowblock(const PackedLinear& L, const GemvInput& in, int64_t r, int64_t t0, int64_t t1, float* y,
                   int64_t ldy) {
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4)
    for (int64_t rr = 0; rr < R; ++rr) gemv_block<1, 4>(L, in, r + rr, t, y, ldy);
  for (; t + 2 <= t1; t += 2)
    for (int64_t rr = 0; rr < R; rr += 2) gemv_block<(R >= 2 ? 2 : 1), 2>(L, in, r + rr, t, y, ldy);
  for (; t < t1; ++t) gemv_block<R, 1>(L, in, r, t, y, ldy);
}
