// PackedLinear's products. matmul() picks the kernel by T: small T runs the
// bit-plane GEMV (x padded per group and group sums of x prepared once per
// call, rows split between OpenMP threads when the layer is big enough);
// larger T dequantizes row panels into a bounded per-thread scratch and calls
// sgemm on each panel. The SIMD kernels are runtime-dispatched (packed_kernels.cc).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <vector>

#include "pack/packed_kernels.h"
#include "pack/packed_linear.h"
#include "util/error.h"

namespace slim {

namespace {

// Per-thread scratch buffers, kept between calls so a product does not page
// fault on fresh allocations. Slots: 0, 1 = GEMV x preparation (calling
// thread), 2 = GEMM panel (each worker).
float* thread_scratch(int slot, int64_t n) {
  thread_local std::array<std::vector<float>, 3> buf;
  auto& v = buf[size_t(slot)];
  if (int64_t(v.size()) < n) v.resize(size_t(n));
  return v.data();
}

}  // namespace

void PackedLinear::dequantize_rows(int64_t r0, int64_t r1, float* out, int64_t ldo) const {
  SLIM_CHECK(0 <= r0 && r0 <= r1 && r1 <= rows(), "dequantize_rows: rows [{}, {}) outside [0, {})", r0, r1, rows());
  SLIM_CHECK(ldo >= cols(), "dequantize_rows: ldo {} < cols {}", ldo, cols());
  pack_detail::dequantize(*this, r0, r1, out, ldo);
}

namespace pack_detail {

void gemm_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  const int64_t R = L.rows(), C = L.cols();
  const int64_t panel = std::clamp<int64_t>(tuning().panel_bytes / (4 * C) / 16 * 16, 16, R);
  const int64_t n_panels = (R + panel - 1) / panel;
  // Each thread dequantizes its own panels and runs a single-threaded sgemm
  // on them (OpenBLAS-OpenMP runs single-threaded inside a parallel region).
#pragma omp parallel for schedule(dynamic, 1) if (n_panels > 1)
  for (int64_t p = 0; p < n_panels; ++p) {
    const int64_t r0 = p * panel, r1 = std::min(R, r0 + panel);
    float* w = thread_scratch(2, panel * C);  // (r1 - r0, cols)
    dequantize(L, r0, r1, w, C);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(r1 - r0), int(C), 1.f, x, int(ldx), w, int(C),
                0.f, y + r0, int(ldy));
  }
}

void gemv_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  const int64_t R = L.rows(), C = L.cols(), G = L.n_groups();
  const auto gcol = L.group_columns();
  const auto pcol = L.padded_columns();
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
  const int64_t n_blocks = (R + kGemvRowBlock - 1) / kGemvRowBlock;
#pragma omp parallel if (R * C * T >= tuning().parallel_min_work)
  {
    // Contiguous row ranges in whole row blocks, one per thread.
    const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t r0 = std::min(R, n_blocks * id / nt * kGemvRowBlock);
    const int64_t r1 = std::min(R, n_blocks * (id + 1) / nt * kGemvRowBlock);
    if (r0 < r1) gemv_rows(L, in, r0, r1, y, ldy);
  }
}

}  // namespace pack_detail

void PackedLinear::matmul(const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) const {
  if (ldx <= 0) ldx = cols();
  if (ldy <= 0) ldy = rows();
  SLIM_CHECK(T >= 0 && ldx >= cols() && ldy >= rows(), "matmul: T {} ldx {} ldy {} for a {}x{} linear", T, ldx, ldy,
             rows(), cols());
  if (T == 0) return;
  if (T >= pack_detail::tuning().gemm_min_tokens)
    pack_detail::gemm_matmul(*this, x, y, T, ldx, ldy);
  else
    pack_detail::gemv_matmul(*this, x, y, T, ldx, ldy);
}

}  // namespace slim
