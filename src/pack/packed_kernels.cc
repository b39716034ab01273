// SIMD kernels over the bit-plane layout, compiled once per Highway target
// (foreach_target.h re-includes this file): AVX2 and AVX3 (AVX-512
// F/BW/DQ/VL) on x86-64, NEON on aarch64. Highway's default policy compiles
// the baseline target and better ones; AVX3_DL is opt-in. The SVE targets
// are disabled here (model/dense16.cc has them): SVE vectors are sizeless
// types, which cannot be array elements, and these kernels keep their
// accumulators in small arrays of vectors (unrolled into registers). Every
// SVE CPU has NEON, so there dispatch picks the NEON copy. x86-64-v3 lacks
// AES/PCLMUL, which Highway 1.0.3 requires for its SSE4/AVX2 baseline, so
// without the define below the baseline would be SSSE3 and we would also
// compile SSSE3 and SSE4 copies (the define only concerns x86).
// The kernels use neither instruction.
//
// GEMV kernels (packed_gemv_masked-inl.h, packed_gemv_lut-inl.h) compute the
// group dot products Σ q x from the bit planes; the scale multiplies them and
// the zero/mean term goes on the group sum of x:
//   b >= 2: scale (Σ q x) - scale zero Σx        b == 1: 2 scale (Σ q x) + (mean - scale) Σx
#ifndef HWY_DISABLE_PCLMUL_AES
#define HWY_DISABLE_PCLMUL_AES
#endif
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "pack/packed_kernels.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pack/int8_gemm.h"
#include "pack/int8_gemv.h"
#include "pack/packed_kernels.h"
#include "util/arch.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace slim::pack_detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The kernels work on 16-column chunks (2 bytes of each bit plane) with 16
// (AVX-512), 8 (AVX2) or 4 (NEON) lanes per vector.
using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;
constexpr size_t kLanes = hn::MaxLanes(DF());
static_assert(kLanes == 4 || kLanes == 8 || kLanes == 16, "kernels are written for 4, 8 or 16 lanes");
constexpr bool kMaskRegs = kLanes == 16;  // AVX-512: one k-register per 16-column chunk
constexpr int kVecs = int(16 / kLanes);   // vectors per 16-column chunk

// The small fixed loops over planes, rows, tokens and chains must be fully
// unrolled: the accumulator arrays only live in registers when every index is
// a compile-time constant (GCC does not unroll them all by itself, and then
// keeps them on the stack).
#define SLIM_UNROLL HWY_UNROLL(16)

inline float half(uint16_t h) { return arch::f16_to_f32(h); }

#include "pack/packed_gemv_masked-inl.h"
#include "pack/packed_gemv_lut-inl.h"
#include "pack/packed_gemv_lut_avx2-inl.h"
#include "pack/packed_gemv_int8_avx2-inl.h"
#include "pack/packed_gemm_int8_avx2-inl.h"

bool GemmInt8Applies(const PackedLinear& L) {
#if HWY_TARGET <= HWY_AVX2
  return tuning().gemm_int8 && gemm_int8_bits_fit(L);
#else
  (void)L;
  return false;
#endif
}

// y = x Wᵀ by the int8 GEMM; only called where GemmInt8Applies(L).
void GemmInt8(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
#if HWY_TARGET <= HWY_AVX2
  gemm_int8_avx2(L, x, y, T, ldx, ldy);
#else
  (void)L, (void)x, (void)y, (void)T, (void)ldx, (void)ldy;
  SLIM_CHECK(false, "the int8 GEMM runs on x86 (AVX2, AVX3) only");
#endif
}

void GemmActs(const PackedLinear& L, const float* x, int8_t* xq, float* sx, float* ssx) {
#if HWY_TARGET <= HWY_AVX2
  gemm_acts_avx2(L, x, xq, sx, ssx);
#else
  quantize_gemm_acts(L, x, xq, sx, ssx);
#endif
}

// build_gemm_block's output (out: padded_columns()[G] / 4 quads of 32 bytes).
void GemmBlock(const PackedLinear& L, int64_t r0, uint8_t* out, float* a, float* b) {
#if HWY_TARGET <= HWY_AVX2
  const int64_t nq = gemm_block_quads(L), kp = L.padded_columns()[size_t(L.n_groups())];
  std::vector<uint8_t> full(size_t(32 * nq)), rowbuf(size_t(kGemmRows * (4 * nq + 32)));
  gemm_block_avx2(L, r0, full.data(), a, b, rowbuf.data());
  std::memcpy(out, full.data(), size_t(8 * kp));
#else
  build_gemm_block(L, r0, out, a, b);
#endif
}

// Whether GemvMatmul runs rows of L on the int8-table kernel.
bool Int8Applies(const PackedLinear& L) {
#if HWY_TARGET <= HWY_AVX2
  return tuning().lut && tuning().int8 && L.rows() * L.cols() >= tuning().int8_min_work && L.rows() >= kInt8Rows;
#else
  (void)L;
  return false;
#endif
}

// Tokens per pass over the rows in the GEMV (see GemvMatmul).
constexpr int64_t kTokenChunk = 8;
#if HWY_TARGET <= HWY_AVX2
constexpr int64_t kInt8RowsOr1 = kInt8Rows;
#else
constexpr int64_t kInt8RowsOr1 = 1;
#endif

#if HWY_TARGET <= HWY_AVX2
constexpr int64_t kLutRowsOr1 = kLutRows;
#else
constexpr int64_t kLutRowsOr1 = 1;
#endif

// How one product's rows are split between the kernels: x86 (AVX2, AVX3)
// with tuning().int8, rows [0, i8_rows) by the int8-table kernel (16-row
// blocks); otherwise rows [0, lut_rows) in exact LUT blocks (16 rows on
// AVX-512, whose gathers need one more row after a block; 8 on AVX2); the
// rest by the masked kernel (the only one elsewhere).
struct GemvSplit {
  int64_t i8_rows = 0, lut_rows = 0;
  GemvSplit() = default;
  explicit GemvSplit(const PackedLinear& L) {
#if HWY_TARGET <= HWY_AVX2
    const int64_t R = L.rows();
    if (Int8Applies(L))
      i8_rows = R / kInt8Rows * kInt8Rows;
    else if (tuning().lut)
      lut_rows = std::max<int64_t>(0, R - kLutRowsAfter) / kLutRows * kLutRows;
#else
    (void)L;
#endif
  }
};

// ys[i] (T, rows_i, row stride ldys[i]) = x (T, cols) W_iᵀ for n products
// whose layers share cols and groups (group_columns()), by the GEMV kernels:
// x zero-padded per group, its group sums and the tables the kernels look up
// (int8 and/or fp32 subset sums) prepared once for all of them, then one
// parallel region in which every thread takes its share of each product's
// rows (one fork/join for q, k and v instead of three), when the work is big
// enough to pay for it. Each product's rows get the same kernels, shares and
// arithmetic as on their own (a product too small to split runs whole on one
// thread): results equal n separate calls bit for bit.
void GemvMatmulShared(const PackedLinear* const* Ls, float* const* ys, const int64_t* ldys, int64_t n, const float* x,
                      int64_t T, int64_t ldx) {
  const PackedLinear& L0 = *Ls[0];
  const int64_t C = L0.cols(), G = L0.n_groups();
  const auto gcol = L0.group_columns();
  const auto pcol = L0.padded_columns();
  GemvInput in;
  in.T = T;
  in.xstride = pcol[size_t(G)];
  float* xp = thread_scratch(0, T * in.xstride);  // (T, xstride) zero-padded groups
  float* xs = thread_scratch(1, T * G);           // (T, G) group sums
  for (int64_t t = 0; t < T; ++t)
    for (int64_t g = 0; g < G; ++g) {
      const float* src = x + t * ldx + gcol[size_t(g)];
      float* dst = xp + t * in.xstride + pcol[size_t(g)];
      const int64_t w = gcol[size_t(g + 1)] - gcol[size_t(g)], pw = pcol[size_t(g + 1)] - pcol[size_t(g)];
      float s = 0.f;
      for (int64_t i = 0; i < w; ++i) s += dst[i] = src[i];
      std::fill(dst + w, dst + pw, 0.f);
      xs[t * G + g] = s;
    }
  in.xp = xp;
  in.xsum = xs;
  // The tables: the int8 ones if any product has int8 rows, the fp32 ones if any has LUT rows.
  constexpr auto kMaxShared = PackedLinear::kMaxSharedInput;
  SLIM_CHECK(n >= 1 && n <= int64_t(kMaxShared), "GEMV: {} products sharing an input (1..{})", n, kMaxShared);
  std::array<GemvSplit, kMaxShared> split;
  bool any_i8 = false, any_lut = false;
  int64_t work = 0;
  for (int64_t i = 0; i < n; ++i) {
    split[size_t(i)] = GemvSplit(*Ls[i]);
    any_i8 |= split[size_t(i)].i8_rows > 0;
    any_lut |= split[size_t(i)].lut_rows > 0;
    work += Ls[i]->rows() * C * T;
  }
  const int8_t* tq = nullptr;
  const float* st = nullptr;
  int64_t tq_stride = 0;
#if HWY_TARGET <= HWY_AVX2
  // Scratch slot 3: the int8 tables (bytes, in floats, rounded up to a
  // 64-byte line) then the fp32 ones, each only if used.
  const int64_t i8_floats = any_i8 ? (T * 16 * (in.xstride / 4) + 63) / 64 * 16 : 0;
  float* tables = thread_scratch(3, i8_floats + (any_lut ? T * in.xstride * 4 : 0));
  if (any_i8) {
    tq_stride = 16 * (in.xstride / 4);
    // (T, tq_stride) int8 tables, (T, G) their scales.
    int8_t* tqw = reinterpret_cast<int8_t*>(tables);
    float* stw = thread_scratch(2, T * G);
    for (int64_t t = 0; t < T; ++t) int8_tables_avx2(L0, xp + t * in.xstride, tqw + t * tq_stride, stw + t * G);
    tq = tqw;
    st = stw;
  }
  if (any_lut) {
    in.tstride = in.xstride * 4;  // 16 floats per 4-column block
    float* tab = tables + i8_floats;  // (T, xstride / 4, 16)
    for (int64_t t = 0; t < T; ++t) build_subset_tables(xp + t * in.xstride, in.xstride / 4, tab + t * in.tstride);
    in.tables = tab;
  }
#endif
  (void)any_i8;
  (void)any_lut;
#pragma omp parallel if (work >= tuning().parallel_min_work)
  {
    // Per product, contiguous ranges of each kind of block, one per thread.
    // Tokens in chunks of kTokenChunk: a chunk's tables (64 KB per token at
    // 4096 columns) stay in L2 while every row block passes over them.
    const int64_t team = omp_get_num_threads(), me = omp_get_thread_num();
    for (int64_t i = 0; i < n; ++i) {
      // A product too small to split on its own stays whole on one thread
      // (the i-th, round robin), as it would alone: a LUT kernel's result
      // depends on how its blocks are grouped, so the split must be the same.
      const bool split_i = Ls[i]->rows() * C * T >= tuning().parallel_min_work;
      if (!split_i && me != i % team) continue;
      const int64_t nt = split_i ? team : 1, id = split_i ? me : 0;
      const PackedLinear& L = *Ls[i];
      float* y = ys[i];
      const int64_t R = L.rows(), ldy = ldys[i];
      const int64_t i8_rows = split[size_t(i)].i8_rows, lut_end = i8_rows + split[size_t(i)].lut_rows;
      const int64_t n_i8 = i8_rows / kInt8RowsOr1, n_lut = split[size_t(i)].lut_rows / kLutRowsOr1;
      const int64_t n_masked = (R - lut_end + kGemvRowBlock - 1) / kGemvRowBlock;
      const int64_t r0 = std::min(R, lut_end + n_masked * id / nt * kGemvRowBlock);
      const int64_t r1 = std::min(R, lut_end + n_masked * (id + 1) / nt * kGemvRowBlock);
      const uint8_t* tiles = i8_rows > 0 ? L.int8_tiles().data() : nullptr;
      for (int64_t t0 = 0; t0 < T; t0 += kTokenChunk) {
        const int64_t t1 = std::min(T, t0 + kTokenChunk);
#if HWY_TARGET <= HWY_AVX2
        for (int64_t blk = n_i8 * id / nt; blk < n_i8 * (id + 1) / nt; ++blk)
          int8_block(L, in, tiles, tq, tq_stride, st, blk * kInt8Rows, t0, t1, y, ldy);
#endif
#if HWY_TARGET <= HWY_AVX2
        lut_blocks(L, in, n_lut * id / nt, n_lut * (id + 1) / nt, t0, t1, y, ldy);
#endif
        int64_t r = r0;
        for (; r + kGemvRowBlock <= r1; r += kGemvRowBlock) gemv_rowblock<kGemvRowBlock>(L, in, r, t0, t1, y, ldy);
        for (; r < r1; ++r) gemv_rowblock<1>(L, in, r, t0, t1, y, ldy);
      }
      (void)n_lut;
      (void)n_i8;
      (void)tiles;
    }
  }
  (void)tq;
  (void)st;
  (void)tq_stride;
}

// One product (the n = 1 case).
void GemvMatmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  const PackedLinear* Ls[1] = {&L};
  float* ys[1] = {y};
  const int64_t ldys[1] = {ldy};
  GemvMatmulShared(Ls, ys, ldys, 1, x, T, ldx);
}

// One row's group g: codes rebuilt by masked integer adds of 2^j, then the
// reference arithmetic (scale * (q - zero), or (2q - 1) scale + mean where the
// product is exact, so fused or not gives the same float).
// Lanes col..col + kLanes - 1 of a bit plane as a mask (col a multiple of
// kLanes; with 4 lanes, half a byte).
HWY_INLINE hn::Mask<DI> plane_mask(DI di, const uint8_t* plane, int64_t col) {
  if constexpr (kLanes >= 8) {
    return hn::LoadMaskBits(di, plane + col / 8);
  } else {
    const uint8_t bits = uint8_t(plane[col / 8] >> (col % 8));  // LoadMaskBits reads the low kLanes bits
    return hn::LoadMaskBits(di, &bits);
  }
}

template <int B>
HWY_INLINE void dequant_group(const uint8_t* planes, int64_t pb, int64_t width, float scale, float zero_or_mean,
                              float* out) {
  const DF d;
  const DI di;
  const VF vs = hn::Set(d, scale), vz = hn::Set(d, zero_or_mean);
  for (int64_t col = 0; col < width; col += int64_t(kLanes)) {
    auto q = hn::Zero(di);
    for (int j = 0; j < B; ++j) {
      const auto m = plane_mask(di, planes + j * pb, col);
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

// The int8 GEMV's tables of one token as this target builds them (x86:
// vectorised; the others have no int8 kernel and run the scalar reference).
void BuildInt8Tables(const PackedLinear& L, const float* xp, int8_t* tq, float* st) {
#if HWY_TARGET <= HWY_AVX2
  int8_tables_avx2(L, xp, tq, st);
#else
  build_int8_tables(L, xp, tq, st);
#endif
}

// The int8 GEMV's code tiles as this target builds them (x86: by
// transposes; the others have no int8 kernel and run the scalar reference).
void BuildInt8Tiles(const PackedLinear& L, uint8_t* out) {
#if HWY_TARGET <= HWY_AVX2
  int8_tiles_avx2(L, out);
#else
  build_int8_tiles(L, out);
#endif
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

// Crossover T, 4096x4096 at ~3 bits (avg3), one thread on Zen 5 (both paths
// split rows between threads alike), bench_kernels --threads 1:
//   AVX-512: GEMV 7.4 / 11.5 / 18.6 / 22.4 ms vs GEMM 14.2 / 18.0 / 24.1 /
//   22.8 ms at T = 24 / 32 / 48 / 64 (a noisier run: tied from T = 32-48).
//   AVX2 (masked GEMV): GEMV 7.8 / 19.2 ms vs GEMM 11.3 / 12.5 ms at T = 4 / 8.
//   AVX2 (LUT GEMV, issue 11; 2 threads on a loaded AMD EPYC, one run):
//   GEMV 4.9 / 11.3 / 20.0 ms vs GEMM 12.0 / 16.4 / 17.8 ms at T = 4 / 8 / 12.
// OpenBLAS sgemm ran at only ~65 GFLOP/s per core there; a faster sgemm
// moves the AVX-512 crossover down, hence 48 rather than 64.
// Other targets (NEON, SVE) take the AVX2 value: not measured, there is no ARM
// hardware here (qemu-user runs say nothing about speed).
//
// With the int8 GEMM (gemm_int8 on, slim generate's default; 7 Dec 2026, after
// its int16 sums were pinned in order; bench_kernels --quick, SLIM_GEMM=int8,
// 2 threads, 4096x4096 avg3, two runs each): AVX2 (int8-table GEMV) 1186-1334
// vs 1281-1610 us at T = 8, 1505-2010 vs 1527-1935 at T = 12, 1863-2647 vs
// 1838-2308 at T = 16; AVX3 (exact LUT GEMV) 727-761 vs 1059-1254 us at T = 4,
// 1732-1804 vs 1340-1678 at T = 8. The int8 GEMM's ~1.1 ms floor is the
// expansion of the codes to bytes (T = 1..4 alike).
//
// AVX3 with the int8-table GEMV (since 7 Dec 2026; Intel Emerald Rapids,
// bench_kernels --target avx3 --quick, SLIM_GEMM=int8, 2 threads): 1572 vs
// 1620 us at T = 4, 2748 vs 2255 at T = 8, so the int8 GEMM stays at T >= 8.
// Against the exact GEMM path (slim ppl, slim eval) an approximate GEMV takes
// AVX2's 10, as there: the exact 48 was measured against the exact AVX-512
// LUT GEMV, and keeping it would send T = 10..47 through the approximate one.
int64_t GemmMinTokens(bool int8_gemm, bool int8_gemv) {
  if (HWY_TARGET <= HWY_AVX3) return int8_gemm ? 8 : int8_gemv ? 10 : 48;
  return int8_gemm ? 12 : 10;
}

}  // namespace HWY_NAMESPACE
}  // namespace slim::pack_detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace slim::pack_detail {
HWY_EXPORT(GemvMatmul);
HWY_EXPORT(GemvMatmulShared);
HWY_EXPORT(DequantizeRows);
HWY_EXPORT(TargetName);
HWY_EXPORT(BuildInt8Tables);
HWY_EXPORT(BuildInt8Tiles);
HWY_EXPORT(Int8Applies);
HWY_EXPORT(GemmMinTokens);
HWY_EXPORT(GemmInt8Applies);
HWY_EXPORT(GemmInt8);
HWY_EXPORT(GemmActs);
HWY_EXPORT(GemmBlock);

bool gemm_int8_applies(const PackedLinear& L) { return HWY_DYNAMIC_DISPATCH(GemmInt8Applies)(L); }
void gemm_int8_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(GemmInt8)(L, x, y, T, ldx, ldy);
}
void quantize_gemm_acts_dispatched(const PackedLinear& L, const float* x, int8_t* xq, float* sx, float* ssx) {
  HWY_DYNAMIC_DISPATCH(GemmActs)(L, x, xq, sx, ssx);
}
void build_gemm_block_dispatched(const PackedLinear& L, int64_t r0, uint8_t* out, float* a, float* b) {
  HWY_DYNAMIC_DISPATCH(GemmBlock)(L, r0, out, a, b);
}

void gemv_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(GemvMatmul)(L, x, y, T, ldx, ldy);
}
void gemv_matmul_shared(std::span<const PackedLinear* const> Ls, std::span<float* const> ys,
                        std::span<const int64_t> ldys, const float* x, int64_t T, int64_t ldx) {
  SLIM_CHECK(Ls.size() == ys.size() && Ls.size() == ldys.size(), "gemv_matmul_shared: {} linears, {} outputs, {} strides",
             Ls.size(), ys.size(), ldys.size());
  HWY_DYNAMIC_DISPATCH(GemvMatmulShared)(Ls.data(), ys.data(), ldys.data(), int64_t(Ls.size()), x, T, ldx);
}
void dequantize(const PackedLinear& L, int64_t r0, int64_t r1, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(DequantizeRows)(L, r0, r1, out, ldo);
}
const char* target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }
bool int8_gemv_applies(const PackedLinear& L) { return HWY_DYNAMIC_DISPATCH(Int8Applies)(L); }
void build_int8_tables_dispatched(const PackedLinear& L, const float* xp, int8_t* tq, float* st) {
  HWY_DYNAMIC_DISPATCH(BuildInt8Tables)(L, xp, tq, st);
}
void build_int8_tiles_dispatched(const PackedLinear& L, uint8_t* out) { HWY_DYNAMIC_DISPATCH(BuildInt8Tiles)(L, out); }
int64_t gemm_min_tokens_for_target(bool int8_gemm, bool int8_gemv) {
  return HWY_DYNAMIC_DISPATCH(GemmMinTokens)(int8_gemm, int8_gemv);
}
std::vector<int64_t> compiled_targets() { return hwy::SupportedAndGeneratedTargets(); }
}  // namespace slim::pack_detail

namespace slim {
const char* packed_kernel_target() { return pack_detail::target_name(); }

}  // namespace slim
#endif  // HWY_ONCE
