// Highway kernels of model/dense16.h, compiled once per target
// (foreach_target.h re-includes this file), dispatched at run time.
#ifndef HWY_DISABLE_PCLMUL_AES
#define HWY_DISABLE_PCLMUL_AES  // see pack/packed_kernels.cc: x86-64-v3 lacks them (no effect on Arm)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "model/dense16.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "model/dense16.h"
#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace slim::dense16_detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// N 16-bit values at p widened to fp32 lanes (exact for both formats).
template <bool kBF16>
HWY_INLINE VF load_widen(DF df, const uint16_t* p) {
  if constexpr (kBF16) {
    const hn::Rebind<uint16_t, DF> d16;
    const hn::RebindToUnsigned<DF> d32;
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(d32, hn::LoadU(d16, p))));
  } else {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
  }
}

HWY_INLINE float sum_lanes(DF df, VF v) { return hn::GetLane(hn::SumOfLanes(df, v)); }

template <bool kBF16>
HWY_INLINE float widen1(uint16_t v) {
  return kBF16 ? bf16_to_f32(v) : f16_to_f32(v);
}

template <bool kBF16>
void to_f32(const uint16_t* src, int64_t n, float* out) {
  const DF df;
  const int64_t N = int64_t(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(load_widen<kBF16>(df, src + i), df, out + i);
  for (; i < n; ++i) out[i] = widen1<kBF16>(src[i]);
}

// Four rows share every load of x; two vectors per row per step hide the FMA latency.
template <bool kBF16>
void gemv_rows(const uint16_t* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
  const DF df;
  const int64_t N = int64_t(hn::Lanes(df));
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) {
    const uint16_t* w0 = w + r * cols;
    const uint16_t *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    VF a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t c = 0;
    for (; c + 2 * N <= cols; c += 2 * N) {
      const VF x0 = hn::LoadU(df, x + c), x1 = hn::LoadU(df, x + c + N);
      a0 = hn::MulAdd(load_widen<kBF16>(df, w0 + c), x0, a0);
      b0 = hn::MulAdd(load_widen<kBF16>(df, w0 + c + N), x1, b0);
      a1 = hn::MulAdd(load_widen<kBF16>(df, w1 + c), x0, a1);
      b1 = hn::MulAdd(load_widen<kBF16>(df, w1 + c + N), x1, b1);
      a2 = hn::MulAdd(load_widen<kBF16>(df, w2 + c), x0, a2);
      b2 = hn::MulAdd(load_widen<kBF16>(df, w2 + c + N), x1, b2);
      a3 = hn::MulAdd(load_widen<kBF16>(df, w3 + c), x0, a3);
      b3 = hn::MulAdd(load_widen<kBF16>(df, w3 + c + N), x1, b3);
    }
    float s0 = sum_lanes(df, hn::Add(a0, b0)), s1 = sum_lanes(df, hn::Add(a1, b1));
    float s2 = sum_lanes(df, hn::Add(a2, b2)), s3 = sum_lanes(df, hn::Add(a3, b3));
    for (; c < cols; ++c) {
      s0 += widen1<kBF16>(w0[c]) * x[c];
      s1 += widen1<kBF16>(w1[c]) * x[c];
      s2 += widen1<kBF16>(w2[c]) * x[c];
      s3 += widen1<kBF16>(w3[c]) * x[c];
    }
    y[r] = s0;
    y[r + 1] = s1;
    y[r + 2] = s2;
    y[r + 3] = s3;
  }
  for (; r < r1; ++r) {
    const uint16_t* wr = w + r * cols;
    VF a = hn::Zero(df);
    int64_t c = 0;
    for (; c + N <= cols; c += N) a = hn::MulAdd(load_widen<kBF16>(df, wr + c), hn::LoadU(df, x + c), a);
    float s = sum_lanes(df, a);
    for (; c < cols; ++c) s += widen1<kBF16>(wr[c]) * x[c];
    y[r] = s;
  }
}

void ToF32(const uint16_t* src, bool bf16, int64_t n, float* out) {
  if (bf16)
    to_f32<true>(src, n, out);
  else
    to_f32<false>(src, n, out);
}

void GemvRows(const uint16_t* w, bool bf16, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
  if (bf16)
    gemv_rows<true>(w, cols, x, y, r0, r1);
  else
    gemv_rows<false>(w, cols, x, y, r0, r1);
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace slim::dense16_detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "util/error.h"

namespace slim {
namespace dense16_detail {
HWY_EXPORT(ToF32);
HWY_EXPORT(GemvRows);
HWY_EXPORT(TargetName);
// Dispatched from inside this namespace: with a single compiled target (HWY_COMPILE_ONLY_STATIC,
// the sanitizer build) HWY_DYNAMIC_DISPATCH becomes a static call that takes unqualified names.
void to_f32(const uint16_t* src, bool bf16, int64_t n, float* out) { HWY_DYNAMIC_DISPATCH(ToF32)(src, bf16, n, out); }
void gemv_rows(const uint16_t* w, bool bf16, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
  HWY_DYNAMIC_DISPATCH(GemvRows)(w, bf16, cols, x, y, r0, r1);
}
const char* target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }
}  // namespace dense16_detail

namespace {
bool is_bf16(ElemType t) {
  SLIM_CHECK(t != ElemType::F32, "internal: dense16 kernel on an F32 tensor");
  return t == ElemType::BF16;
}
// Below this many weights a layer runs on one thread (a fork/join costs more).
constexpr int64_t kParallelMinWeights = 1 << 17;
// Panel of widened rows per sgemm call: at least T rows (each call repacks x).
constexpr int64_t kPanelBytes = 1 << 19;
}  // namespace

void dense16_to_f32(const uint16_t* src, ElemType type, int64_t n, float* out) {
  dense16_detail::to_f32(src, is_bf16(type), n, out);
}

void dense16_gemv_rows(const uint16_t* w, ElemType type, int64_t cols, const float* x, float* y, int64_t r0,
                       int64_t r1) {
  dense16_detail::gemv_rows(w, is_bf16(type), cols, x, y, r0, r1);
}

void dense16_matmul(const Tensor& W, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  const int64_t R = W.rows(), C = W.cols();
  const uint16_t* w = W.data16();
  const bool bf16 = is_bf16(W.type());
  if (T < kDense16GemmMinTokens) {
    // Contiguous row ranges in blocks of 4 (the kernel's unit), one per thread.
    const int64_t blocks = (R + 3) / 4;
#pragma omp parallel if (R * C >= kParallelMinWeights)
    {
      const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
      const int64_t r0 = std::min(R, blocks * id / nt * 4), r1 = std::min(R, blocks * (id + 1) / nt * 4);
      for (int64_t t = 0; t < T; ++t)
        dense16_detail::gemv_rows(w, bf16, C, x + t * ldx, y + t * ldy, r0, r1);
    }
    return;
  }
  const int64_t panel = std::clamp<int64_t>(std::max(kPanelBytes / (4 * C), T) / 16 * 16, 16, std::max<int64_t>(R, 16));
  const int64_t n_panels = (R + panel - 1) / panel;
  // Each thread widens its own panels and runs a single-threaded sgemm on
  // them (OpenBLAS-OpenMP runs single-threaded inside a parallel region).
#pragma omp parallel for schedule(dynamic, 1) if (n_panels > 1)
  for (int64_t p = 0; p < n_panels; ++p) {
    thread_local std::vector<float> buf;
    const int64_t r0 = p * panel, r1 = std::min(R, r0 + panel);
    if (int64_t(buf.size()) < panel * C) buf.resize(size_t(panel * C));
    dense16_detail::to_f32(w + r0 * C, bf16, (r1 - r0) * C, buf.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(r1 - r0), int(C), 1.f, x, int(ldx), buf.data(),
                int(C), 0.f, y + r0, int(ldy));
  }
}

void dense16_to_f32_reference(const uint16_t* src, ElemType type, int64_t n, float* out) {
  const bool bf16 = is_bf16(type);
  for (int64_t i = 0; i < n; ++i) out[i] = bf16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
}

void dense16_gemv_reference(const uint16_t* w, ElemType type, int64_t rows, int64_t cols, const float* x, float* y) {
  const bool bf16 = is_bf16(type);
  for (int64_t r = 0; r < rows; ++r) {
    float s = 0.f;
    for (int64_t c = 0; c < cols; ++c) {
      const uint16_t v = w[r * cols + c];
      s += (bf16 ? bf16_to_f32(v) : f16_to_f32(v)) * x[c];
    }
    y[r] = s;
  }
}

const char* dense16_target() { return dense16_detail::target_name(); }
std::vector<int64_t> dense16_targets() { return hwy::SupportedAndGeneratedTargets(); }

}  // namespace slim
#endif  // HWY_ONCE
