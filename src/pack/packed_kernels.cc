// SIMD kernels over the bit-plane layout, compiled once per Highway target
// (foreach_target.h re-includes this file): AVX2 and AVX3 (AVX-512
// F/BW/DQ/VL). Highway's default policy compiles the baseline target and
// better ones; AVX3_DL is opt-in. x86-64-v3 lacks AES/PCLMUL, which Highway
// 1.0.3 requires for its SSE4/AVX2 baseline, so without the define below the
// baseline would be SSSE3 and we would also compile SSSE3 and SSE4 copies.
// The kernels use neither instruction.
//
// GEMV: Σ_i q_i x_i over a group is Σ_j 2^j Σ_{i: bit j of q_i} x_i. A
// 16-column chunk of plane j is a 16-bit lane mask; on AVX-512 that is one
// k-register and the sum is a masked add (plane 0) or masked FMA with 2^j
// (planes >= 1, a different port). AVX2 has no mask registers, so there a mask
// byte indexes a 256-entry table of 8 floats 0.0/1.0 and an FMA of that row
// with 2^j x adds x under the mask. The scale multiplies the per-group vector
// sum; the zero/mean term is a scalar per (row, group) on the group sum of x:
//   b >= 2: scale (Σ q x) - scale zero Σx        b == 1: 2 scale (Σ q x) + (mean - scale) Σx
#ifndef HWY_DISABLE_PCLMUL_AES
#define HWY_DISABLE_PCLMUL_AES
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "pack/packed_kernels.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <immintrin.h>  // _cvtsh_ss (F16C is in the baseline)

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "pack/packed_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace slim::pack_detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;
constexpr size_t kLanes = hn::MaxLanes(DF());
static_assert(kLanes == 8 || kLanes == 16, "kernels are written for AVX2 (8 lanes) and AVX-512 (16 lanes)");
constexpr bool kMaskRegs = kLanes == 16;  // AVX-512: one k-register per 16-column chunk
constexpr int kVecs = int(16 / kLanes);   // vectors per 16-column chunk

// The small fixed loops over planes, rows, tokens and chains must be fully
// unrolled: the accumulator arrays only live in registers when every index is
// a compile-time constant (GCC does not unroll them all by itself, and then
// keeps them on the stack).
#define SLIM_UNROLL HWY_UNROLL(16)

inline float half(uint16_t h) { return _cvtsh_ss(h); }

// The 16-lane mask of a 16-column plane chunk. On AVX-512 a direct k-register
// load from memory (kmovw k, m16): Highway's LoadMaskBits goes through a GPR
// (movzx + kmovw k, r32), and that GPR->k transfer is the GEMV's bottleneck.
HWY_INLINE auto chunk_mask(DF d, const uint8_t* p) {
#if HWY_TARGET <= HWY_AVX3
  (void)d;
  return hn::Mask512<float>{_load_mask16(reinterpret_cast<__mmask16*>(const_cast<uint8_t*>(p)))};
#else
  return hn::LoadMaskBits(d, p);
#endif
}

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
          const auto m = chunk_mask(d, planes[rr] + j * pb + 2 * k);
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
            const VF m = hn::Load(d, lut[planes[rr][j * pb + 2 * k + h]]);
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
  for (int64_t g = 0; g < G; ++g) {
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

// Rows [r, r + R): all tokens, in passes of 4, 2, 1 (the block's codes stay
// in L1 between passes; a pass of TT tokens shares each mask load TT times).
template <int R>
void gemv_rowblock(const PackedLinear& L, const GemvInput& in, int64_t r, float* y, int64_t ldy) {
  int64_t t = 0;
  for (; t + 4 <= in.T; t += 4)
    for (int64_t rr = 0; rr < R; ++rr) gemv_block<1, 4>(L, in, r + rr, t, y, ldy);
  for (; t + 2 <= in.T; t += 2)
    for (int64_t rr = 0; rr < R; rr += 2) gemv_block<(R >= 2 ? 2 : 1), 2>(L, in, r + rr, t, y, ldy);
  for (; t < in.T; ++t) gemv_block<R, 1>(L, in, r, t, y, ldy);
}

void GemvRows(const PackedLinear& L, const GemvInput& in, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  int64_t r = r0;
  for (; r + kGemvRowBlock <= r1; r += kGemvRowBlock) gemv_rowblock<kGemvRowBlock>(L, in, r, y, ldy);
  for (; r < r1; ++r) gemv_rowblock<1>(L, in, r, y, ldy);
}

// One row's group g: codes rebuilt by masked integer adds of 2^j, then the
// reference arithmetic (scale * (q - zero), or (2q - 1) scale + mean where the
// product is exact, so fused or not gives the same float).
template <int B>
HWY_INLINE void dequant_group(const uint8_t* planes, int64_t pb, int64_t width, float scale, float zero_or_mean,
                              float* out) {
  const DF d;
  const DI di;
  const VF vs = hn::Set(d, scale), vz = hn::Set(d, zero_or_mean);
  for (int64_t col = 0; col < width; col += int64_t(kLanes)) {
    auto q = hn::Zero(di);
    for (int j = 0; j < B; ++j) {
      const auto m = hn::LoadMaskBits(di, planes + j * pb + col / 8);
      q = hn::IfThenElse(m, hn::Add(q, hn::Set(di, 1 << j)), q);
    }
    const VF qf = hn::ConvertTo(d, q);
    VF w;
    if constexpr (B == 1)
      w = hn::MulAdd(hn::Sub(hn::Add(qf, qf), hn::Set(d, 1.f)), vs, vz);
    else
      w = hn::Mul(vs, hn::Sub(qf, vz));
    if (width - col >= int64_t(kLanes))
      hn::StoreU(w, d, out + col);
    else
      hn::BlendedStore(w, hn::FirstN(d, size_t(width - col)), d, out + col);
  }
}

void DequantizeRows(const PackedLinear& L, int64_t r0, int64_t r1, float* out, int64_t ldo) {
  const PackedParts& P = L.parts();
  const int64_t G = L.n_groups(), n1 = L.n_onebit();
  const auto goff = L.group_offsets();
  const auto gcol = L.group_columns();
  const auto zero = L.zero_points();
  const auto onecol = L.onebit_column();
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = P.codes.data() + r * L.row_bytes();
    for (int64_t g = 0; g < G; ++g) {
      const int64_t width = gcol[g + 1] - gcol[g], pb = plane_bytes(width);
      const float scale = half(P.scales[size_t(r * G + g)]);
      const int b = L.bits(g);
      const float zm = b == 1 ? half(P.offsets[size_t(r * n1 + onecol[g])]) : float(zero[size_t(r * G + g)]);
      float* o = out + (r - r0) * ldo + gcol[g];
      switch (b) {
#define SLIM_DEQUANT_CASE(B) \
  case B:                    \
    dequant_group<B>(row + goff[g], pb, width, scale, zm, o); break;
        SLIM_DEQUANT_CASE(1) SLIM_DEQUANT_CASE(2) SLIM_DEQUANT_CASE(3) SLIM_DEQUANT_CASE(4)
        SLIM_DEQUANT_CASE(5) SLIM_DEQUANT_CASE(6) SLIM_DEQUANT_CASE(7) SLIM_DEQUANT_CASE(8)
#undef SLIM_DEQUANT_CASE
      }
    }
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace slim::pack_detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace slim::pack_detail {
HWY_EXPORT(GemvRows);
HWY_EXPORT(DequantizeRows);
HWY_EXPORT(TargetName);

void gemv_rows(const PackedLinear& L, const GemvInput& in, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(GemvRows)(L, in, r0, r1, y, ldy);
}
void dequantize(const PackedLinear& L, int64_t r0, int64_t r1, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(DequantizeRows)(L, r0, r1, out, ldo);
}
const char* target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }
std::vector<int64_t> compiled_targets() { return hwy::SupportedAndGeneratedTargets(); }
}  // namespace slim::pack_detail

namespace slim {
const char* packed_kernel_target() { return pack_detail::target_name(); }
}  // namespace slim
#endif  // HWY_ONCE
