#include "quant/salience.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/linalg.h"
#include "quant/quantizer.h"
#include "util/error.h"

namespace slim {

namespace {

// Σ over rows and the group's columns of w²/u², skipping `skip` columns
// (dead columns, whose weights GPTQ zeroes). Rows outer so w is read once,
// row-contiguous; fp64 sums since a group adds up rows·gs terms.
std::vector<double> sums(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> u_diag,
                         int group_size, const std::vector<char>* skip) {
  const int64_t G = n_groups(cols, group_size), gw = group_width(cols, group_size);
  std::vector<double> inv_u2(static_cast<size_t>(cols));  // (cols) 1/U_cc², 0 for skipped columns
  for (int64_t c = 0; c < cols; ++c)
    inv_u2[c] = (skip && (*skip)[c]) ? 0.0 : 1.0 / (u_diag[c] * u_diag[c]);
  std::vector<double> per_col(static_cast<size_t>(cols), 0.0);  // (cols) Σ_r w² / U_cc²
#pragma omp parallel if (rows * cols > (1 << 18))
  {
    std::vector<double> local(static_cast<size_t>(cols), 0.0);  // (cols) this thread's column sums of w²
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* wr = w.data() + r * cols;  // (cols)
      for (int64_t c = 0; c < cols; ++c) local[c] += double(wr[c]) * wr[c];
    }
#pragma omp critical
    for (int64_t c = 0; c < cols; ++c) per_col[c] += local[c];
  }
  std::vector<double> g(static_cast<size_t>(G), 0.0);  // (G)
  for (int64_t c = 0; c < cols; ++c) g[c / gw] += per_col[c] * inv_u2[c];
  return g;
}

}  // namespace

std::vector<double> group_salience(std::span<const float> w, int64_t rows, int64_t cols,
                                   std::span<const double> u_diag, int group_size) {
  SLIM_CHECK(rows > 0 && cols > 0, "salience: empty weight ({}x{})", rows, cols);
  SLIM_CHECK(int64_t(w.size()) == rows * cols, "salience: weight has {} values, expected {}x{}", w.size(), rows,
             cols);
  SLIM_CHECK(int64_t(u_diag.size()) == cols, "salience: U diagonal has {} values, expected {}", u_diag.size(), cols);
  for (int64_t c = 0; c < cols; ++c)
    SLIM_CHECK(std::isfinite(u_diag[c]) && u_diag[c] > 0, "salience: U diagonal entry {} at {} is not positive",
               u_diag[c], c);
  return sums(w, rows, cols, u_diag, group_size, nullptr);
}

SalienceResult salience_from_factor(std::span<const float> w, int64_t rows, int64_t cols, const GptqFactor& factor,
                                    int group_size) {
  SLIM_CHECK(rows > 0 && cols > 0, "salience: empty weight ({}x{})", rows, cols);
  SLIM_CHECK(int64_t(w.size()) == rows * cols, "salience: weight has {} values, expected {}x{}", w.size(), rows,
             cols);
  SLIM_CHECK(factor.cols == cols, "salience: the inverse-Hessian factor is {} wide, the weight has {} columns",
             factor.cols, cols);
  SLIM_CHECK(!factor.act_order, "salience: needs U in column order, the factor was built with act_order");
  for (int64_t i = 0; i < rows * cols; ++i)
    SLIM_CHECK(std::isfinite(w[i]), "salience: non-finite weight {} at row {}, col {}", w[i], i / cols, i % cols);
  SalienceResult res;
  res.u_diag = factor.u_diag_by_column();
  res.damp_used = factor.damp_used;
  res.damp_retries = factor.damp_retries;
  res.dead_columns = factor.dead_columns;
  res.group = sums(w, rows, cols, res.u_diag, group_size, &factor.dead);
  return res;
}

SalienceResult compute_salience(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h,
                                const SalienceOptions& opt) {
  SLIM_CHECK(rows > 0 && cols > 0, "salience: empty weight ({}x{})", rows, cols);
  SLIM_CHECK(int64_t(w.size()) == rows * cols, "salience: weight has {} values, expected {}x{}", w.size(), rows,
             cols);
  SLIM_CHECK(int64_t(h.size()) == cols * cols, "salience: Hessian has {} values, expected {}x{}", h.size(), cols,
             cols);
  SLIM_CHECK(std::isfinite(opt.damp) && opt.damp >= 0, "salience: damp must be finite and >= 0, got {}", opt.damp);
  for (int64_t i = 0; i < rows * cols; ++i)
    SLIM_CHECK(std::isfinite(w[i]), "salience: non-finite weight {} at row {}, col {}", w[i], i / cols, i % cols);
  for (int64_t i = 0; i < cols * cols; ++i)
    SLIM_CHECK(std::isfinite(h[i]), "salience: non-finite Hessian entry {} at ({}, {})", h[i], i / cols, i % cols);

  SalienceResult res;
  std::vector<char> dead(static_cast<size_t>(cols), 0);  // (cols)
  std::vector<double> diag(static_cast<size_t>(cols));   // (cols) diag(H), dead entries set to 1
  for (int64_t c = 0; c < cols; ++c) {
    diag[c] = h[c * cols + c];
    if (diag[c] == 0.0) {
      diag[c] = 1.0;
      dead[c] = 1;
      ++res.dead_columns;
    }
  }
  const double mean_diag = std::accumulate(diag.begin(), diag.end(), 0.0) / double(cols);
  // The reference's get_salience adds a fixed 0.01 (spec §2.1 QUIRK).
  double damp = opt.faithful ? 0.01 : opt.damp;
  std::vector<double> a(static_cast<size_t>(cols * cols));  // (cols, cols) P (H + λI) P, then its Cholesky L
  int attempt = 0;
  for (;; ++attempt) {
    const double lambda = opt.faithful ? damp : damp * mean_diag;
    // Fill P (H + λI) P directly: (PHP)[i][j] = H[n-1-i][n-1-j].
#pragma omp parallel for schedule(static) if (cols > 512)
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t oi = cols - 1 - i;
      const double* hr = h.data() + oi * cols;  // (cols) original row
      double* ar = a.data() + i * cols;
      for (int64_t j = 0; j < cols; ++j) ar[j] = hr[cols - 1 - j];
      ar[i] = diag[oi] + lambda;
    }
    if (cholesky_lower(a.data(), cols)) break;
    if (attempt == opt.max_damp_retries)
      fail("salience: Hessian ({}x{}) is not positive definite even with {} damp {:g} after {} retries", cols, cols,
           opt.faithful ? "absolute" : "relative", damp, attempt);
    damp = damp > 0 ? damp * 10 : 0.01;
  }
  res.damp_used = damp;
  res.damp_retries = attempt;
  res.u_diag.resize(size_t(cols));
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t k = cols - 1 - c;
    res.u_diag[c] = 1.0 / a[k * cols + k];
  }
  // Dead columns: GPTQ zeroes their weights, so they carry no salience; the
  // reference's get_salience does not (it reads the raw weights).
  res.group = sums(w, rows, cols, res.u_diag, opt.group_size, opt.faithful ? nullptr : &dead);
  return res;
}

}  // namespace slim
