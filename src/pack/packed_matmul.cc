// PackedLinear's products. matmul() picks the kernel by T: small T runs the
// runtime-dispatched bit-plane GEMV (packed_kernels.cc); larger T dequantizes
// row panels into a bounded per-thread scratch and calls sgemm on each panel.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <ranges>
#include <string>
#include <vector>

#include "pack/packed_kernels.h"
#include "pack/packed_linear.h"
#include "util/error.h"

namespace slim {

void PackedLinear::dequantize_rows(int64_t r0, int64_t r1, float* out, int64_t ldo) const {
  SLIM_CHECK(0 <= r0 && r0 <= r1 && r1 <= rows(), "dequantize_rows: rows [{}, {}) outside [0, {})", r0, r1, rows());
  SLIM_CHECK(ldo >= cols(), "dequantize_rows: ldo {} < cols {}", ldo, cols());
  pack_detail::dequantize(*this, r0, r1, out, ldo);
}

namespace pack_detail {

// The x86 GEMV's default kernel when SLIM_GEMV is unset (see Tuning::int8):
// the int8 tables, 1.1-2.2x the exact kernel's speed on 4096-wide layers
// (docs/RESULTS.md, issue 11), for layers of at least kInt8MinWork weights.
// Below that the per-token table building dominates: stories260K's 64-wide
// layers ran slim ppl slower with int8 tables than with the exact kernel.
constexpr bool kInt8Default = true;
constexpr int64_t kInt8MinWork = int64_t(1) << 18;

namespace {
// SLIM_GEMV: "" (unset), "int8" or "exact".
std::string gemv_env() {
  const char* v = std::getenv("SLIM_GEMV");
  if (v == nullptr || *v == 0) return "";
  const std::string s(v);
  SLIM_CHECK(s == "int8" || s == "exact", "environment variable SLIM_GEMV='{}': expected 'int8' or 'exact'", s);
  return s;
}
}  // namespace

bool int8_from_env() {
  const std::string s = gemv_env();
  return s.empty() ? kInt8Default : s == "int8";
}

int64_t int8_min_work_from_env() { return gemv_env() == "int8" ? 0 : kInt8MinWork; }

int gemm_int8_env() {
  const char* v = std::getenv("SLIM_GEMM");
  if (v == nullptr || *v == 0) return -1;
  const std::string s(v);
  SLIM_CHECK(s == "int8" || s == "exact", "environment variable SLIM_GEMM='{}': expected 'int8' or 'exact'", s);
  return s == "int8" ? 1 : 0;
}

float* thread_scratch(int slot, int64_t n) {
  thread_local std::array<std::vector<float>, 4> buf;
  auto& v = buf[size_t(slot)];
  if (int64_t(v.size()) < n) v.resize(size_t(n));
  return v.data();
}

void gemm_matmul(const PackedLinear& L, const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) {
  if (gemm_int8_applies(L)) return gemm_int8_matmul(L, x, y, T, ldx, ldy);
  const int64_t R = L.rows(), C = L.cols();
  // At least T rows per panel: each sgemm call repacks all of x (T, cols), so
  // a panel must be large enough to amortise that (at T = 512, 64-row panels
  // measured ~15% slower than one sgemm on fp32 weights). The scratch is then
  // bounded by max(panel_bytes, the size of x) per thread.
  const int64_t panel = std::clamp<int64_t>(std::max(tuning().panel_bytes / (4 * C), T) / 16 * 16, 16, R);
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

}  // namespace pack_detail

int64_t PackedLinear::prepare_for_decode() const {
  return pack_detail::int8_gemv_applies(*this) ? int64_t(int8_tiles().size()) : 0;
}

void PackedLinear::matmul(const float* x, float* y, int64_t T, int64_t ldx, int64_t ldy) const {
  if (ldx <= 0) ldx = cols();
  if (ldy <= 0) ldy = rows();
  SLIM_CHECK(T >= 0 && ldx >= cols() && ldy >= rows(), "matmul: T {} ldx {} ldy {} for a {}x{} linear", T, ldx, ldy,
             rows(), cols());
  if (T == 0) return;
  if (T >= pack_detail::gemm_min_tokens(*this))
    pack_detail::gemm_matmul(*this, x, y, T, ldx, ldy);
  else
    pack_detail::gemv_matmul(*this, x, y, T, ldx, ldy);
}

void PackedLinear::matmul_shared_input(std::span<const PackedLinear* const> Ls, const float* x,
                                       std::span<float* const> ys, int64_t T, int64_t ldx) {
  SLIM_CHECK(!Ls.empty() && Ls.size() == ys.size(), "matmul_shared_input: {} linears, {} outputs", Ls.size(), ys.size());
  const PackedLinear& L0 = *Ls[0];
  if (ldx <= 0) ldx = L0.cols();
  bool shared = T > 0 && Ls.size() <= kMaxSharedInput;
  for (const PackedLinear* L : Ls)
    shared = shared && L->cols() == L0.cols() && std::ranges::equal(L->group_columns(), L0.group_columns()) &&
             T < pack_detail::gemm_min_tokens(*L);
  if (!shared) {
    for (size_t i = 0; i < Ls.size(); ++i) Ls[i]->matmul(x, ys[i], T, ldx);
    return;
  }
  SLIM_CHECK(ldx >= L0.cols(), "matmul_shared_input: T {} ldx {} for {} columns", T, ldx, L0.cols());
  std::array<int64_t, kMaxSharedInput> ldys{};
  for (size_t i = 0; i < Ls.size(); ++i) ldys[i] = Ls[i]->rows();
  pack_detail::gemv_matmul_shared(Ls, ys, std::span(ldys.data(), Ls.size()), x, T, ldx);
}

}  // namespace slim
