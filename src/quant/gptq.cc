// GPTQ (gptq.py fasterquant) on the CPU.
//
// Layout: W stays row-major (rows, cols) and is quantized in place. Inside a
// block every row is independent once its group parameters are known (the
// in-block update W1[:, i:] -= err ⊗ U1[i, i:] only touches the row's own
// entries), so each row runs the whole sequential column loop on its own
// contiguous, L1-resident slice: the update over j is a unit-stride axpy
// against row i of U, and rows go to OpenMP threads. The only cross-row
// points are group fits and the lazy update W[:, i2:] -= Err1 · U[i1:i2, i2:],
// one cblas_sgemm per block.
//
// Precision: H and the inverse-Hessian factor U are fp64; W/Q/Err and the
// copy of U used by the updates are fp32, as in the reference (TF32 off).
#include "quant/gptq.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "quant/linalg.h"
#include "util/anon_buffer.h"
#include "util/error.h"

namespace slim {

namespace {

void validate_weights(std::span<const float> w, int64_t rows, int64_t cols, const GptqOptions& opt, int64_t G) {
  SLIM_CHECK(rows > 0 && cols > 0, "gptq: empty weight ({}x{})", rows, cols);
  SLIM_CHECK(int64_t(w.size()) == rows * cols, "gptq: weight has {} values, expected {}x{}", w.size(), rows, cols);
  SLIM_CHECK(opt.block_size > 0, "gptq: block_size must be positive, got {}", opt.block_size);
  SLIM_CHECK(opt.group_bits.empty() || int64_t(opt.group_bits.size()) == G,
             "gptq: group_bits has {} entries but the layer has {} groups ({} cols, group size {})",
             opt.group_bits.size(), G, cols, opt.group_size);
  auto check_bits = [](int b) { SLIM_CHECK(b >= 1 && b <= 8, "gptq: bits must be in 1..8, got {}", b); };
  if (opt.group_bits.empty()) check_bits(opt.bits);
  for (int b : opt.group_bits) check_bits(b);
  // NaN passes min/max and Cholesky pivots unnoticed; refuse it with a position.
  for (int64_t i = 0; i < rows * cols; ++i)
    SLIM_CHECK(std::isfinite(w[i]), "gptq: non-finite weight {} at row {}, col {}", w[i], i / cols, i % cols);
}

void validate_options(const GptqOptions& opt) {
  SLIM_CHECK(std::isfinite(opt.damp) && opt.damp >= 0, "gptq: damp must be finite and >= 0, got {}", opt.damp);
  SLIM_CHECK(opt.max_damp_retries >= 0, "gptq: max_damp_retries must be >= 0, got {}", opt.max_damp_retries);
}

void validate_hessian(std::span<const double> h, int64_t cols, const GptqOptions& opt) {
  SLIM_CHECK(cols > 0, "gptq: empty Hessian (0 columns)");
  SLIM_CHECK(int64_t(h.size()) == cols * cols, "gptq: Hessian has {} values, expected {}x{}", h.size(), cols, cols);
  validate_options(opt);
  for (int64_t i = 0; i < cols * cols; ++i)
    SLIM_CHECK(std::isfinite(h[i]), "gptq: non-finite Hessian entry {} at ({}, {})", h[i], i / cols, i % cols);
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Default group fitter: plain min-max per row (GPTQ's find_params).
void fit_group_minmax(const float* w, int64_t rows, int64_t width, int64_t ld, int bits, QuantParams* out) {
#pragma omp parallel for schedule(static) if (rows * width > 16384)
  for (int64_t r = 0; r < rows; ++r) out[r] = fit_minmax({w + r * ld, size_t(width)}, bits);
}

// (rows, width) fitter input; u_diag (width). Writes params (rows).
void fit_group(const GptqOptions& opt, const float* w, int64_t rows, int64_t width, int64_t ld,
               std::span<const double> u_diag, int bits, QuantParams* out) {
  if (opt.fitter) opt.fitter(w, rows, width, ld, u_diag, bits, out);
  else fit_group_minmax(w, rows, width, ld, bits, out);
}

}  // namespace

std::vector<double> GptqFactor::u_diag_by_column() const {
  std::vector<double> d(static_cast<size_t>(cols));  // (cols) by original column
  for (int64_t i = 0; i < cols; ++i) d[perm[i]] = u_diag[i];
  return d;
}

namespace {

// gptq_factor's shared part: dead columns, act-order and the damp retries
// around `route`, for H given by `a` (whole or sliced) and its diagonal.
GptqFactor factor_around(int64_t cols, std::span<const double> h_diag, dist::DampedSymmetric a,
                         const GptqOptions& opt, const FactorRoute& route) {
  const auto t0 = Clock::now();
  GptqFactor f;
  f.cols = cols;
  f.damp = opt.damp;
  f.act_order = opt.act_order;
  f.reference_inverse = opt.reference_inverse;
  f.max_damp_retries = opt.max_damp_retries;

  // Dead columns (an input channel that is always 0): H[i,i] = 1 keeps the
  // factorisation defined (gptq_quantize zeroes W[:, i]: it has no effect).
  std::vector<double> diag(static_cast<size_t>(cols));  // (cols) diag(H) after the dead-column fix
  f.dead.assign(size_t(cols), 0);
  f.hessian_diag_mean = std::accumulate(h_diag.begin(), h_diag.end(), 0.0) / double(cols);
  for (int64_t c = 0; c < cols; ++c) {
    diag[c] = h_diag[size_t(c)];
    if (diag[c] == 0.0) {
      diag[c] = 1.0;
      f.dead[c] = 1;
      ++f.dead_columns;
    }
  }

  // perm: position -> original column; identity without act_order.
  f.perm.resize(size_t(cols));
  std::vector<int64_t>& perm = f.perm;
  std::iota(perm.begin(), perm.end(), int64_t(0));
  if (opt.act_order)  // stable, so ties keep column order and runs are reproducible
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag[a] > diag[b]; });

  // U = chol((H + λI)⁻¹, upper) of the permuted H, with λ = damp·mean(diag H)
  // relative damping; a failed factorisation retries with 10x the damp.
  const double mean_diag = std::accumulate(diag.begin(), diag.end(), 0.0) / double(cols);
  double damp = opt.damp;
  int attempt = 0;
  for (;; ++attempt) {
    a.n = cols;
    a.perm = perm;
    a.diag = diag;
    a.lambda = damp * mean_diag;
    if (route(a, f.u, f.u_diag)) break;
    if (attempt == opt.max_damp_retries)
      fail("gptq: Hessian ({}x{}) is not positive definite even with relative damp {:g} after {} retries",
           cols, cols, damp, attempt);
    damp = damp > 0 ? damp * 10 : 0.01;
  }
  f.damp_used = damp;
  f.damp_retries = attempt;
  f.seconds = seconds_since(t0);
  return f;
}

}  // namespace

GptqFactor gptq_factor(std::span<const double> h, int64_t cols, const GptqOptions& opt, const FactorRoute& route) {
  validate_hessian(h, cols, opt);
  std::vector<double> h_diag(static_cast<size_t>(cols));  // (cols)
  for (int64_t c = 0; c < cols; ++c) h_diag[size_t(c)] = h[size_t(c * cols + c)];
  dist::DampedSymmetric a;
  a.h = h;
  return factor_around(cols, h_diag, a, opt, route);
}

GptqFactor gptq_factor(const dist::SymmetricSlice& slice, std::span<const double> h_diag, int64_t cols,
                       const GptqOptions& opt, const FactorRoute& route) {
  SLIM_CHECK(cols > 0 && int64_t(h_diag.size()) == cols, "gptq: Hessian diagonal has {} values, expected {}",
             h_diag.size(), cols);
  validate_options(opt);
  for (size_t k = 0; k < slice.packed.size(); ++k)
    SLIM_CHECK(std::isfinite(slice.scale * slice.packed[k]), "gptq: non-finite Hessian entry {} (packed upper triangle, entry {})",
               slice.scale * slice.packed[k], slice.begin + int64_t(k));
  for (double v : h_diag) SLIM_CHECK(std::isfinite(v), "gptq: non-finite Hessian diagonal entry {}", v);
  dist::DampedSymmetric a;
  a.slice = slice;
  return factor_around(cols, h_diag, a, opt, route);
}

namespace {

// The one-process route: the damped, permuted H of `a` into U ((cols, cols)
// fp64, the caller's buffer, mapped here), inverted in place (quant/linalg.h),
// then U's upper triangle in fp32. `a` gives H whole, or as a whole packed
// upper triangle (a slice starting at 0: quantize's accumulators keep their
// sums that way, so no square copy of H is made).
FactorRoute lapack_route(int64_t cols, const GptqOptions& opt, AnonBuffer& U) {
  // Threads only pay off past ~64k elements; small layers (tests) stay serial
  // rather than paying fork/join on a loaded machine.
  const bool big_h = cols * cols > (1 << 16);
  return [cols, &opt, &U, big_h](const dist::DampedSymmetric& a, std::vector<float>& u, std::vector<double>& u_diag) {
    const size_t row_bytes = size_t(cols) * sizeof(double);
    if (U.size() == 0) U = AnonBuffer(size_t(cols) * row_bytes, "GPTQ factorisation work matrix");
    double* Ud = U.as<double>();  // (cols, cols)
#pragma omp parallel for schedule(static) if (big_h)
    for (int64_t i = 0; i < cols; ++i) {
      double* ur = Ud + i * cols;
      const int64_t pi = a.perm[i];  // original row of position i
      if (!a.sliced()) {
        const double* hr = a.h.data() + pi * cols;
        if (opt.act_order)
          for (int64_t j = 0; j < cols; ++j) ur[j] = hr[a.perm[j]];
        else
          std::copy(hr, hr + cols, ur);
      } else {
        const std::span<const double> p = a.slice.packed;
        const double s = a.slice.scale;
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t pj = a.perm[j];
          ur[j] = s * p[size_t(dist::packed_upper_index(cols, std::min(pi, pj), std::max(pi, pj)))];
        }
      }
      ur[i] = a.diag[pi] + a.lambda;
    }
    const bool ok = opt.reference_inverse ? inverse_cholesky_upper_reference(Ud, cols)
                                          : inverse_cholesky_upper(Ud, cols);
    if (!ok) return false;
    // fp32 copy of U for the updates (upper triangle only is ever read; the
    // lower is 0). Built a few rows at a time into reserved, untouched
    // memory while the fp64 rows already copied go back to the kernel: the
    // fp32 U never sits beside the whole fp64 one (3.1 GiB of the peak at
    // 28672 wide).
    u_diag.resize(size_t(cols));
    u.clear();
    u.reserve(size_t(cols * cols));
    const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 20) / cols);  // rows per step: ~4 MiB of fp32
    std::vector<float> part(size_t(std::min(chunk, cols) * cols));          // (chunk, cols)
    for (int64_t r0 = 0; r0 < cols; r0 += chunk) {
      const int64_t r1 = std::min(cols, r0 + chunk);
#pragma omp parallel for schedule(static) if (big_h)
      for (int64_t i = r0; i < r1; ++i) {
        const double* ur = Ud + i * cols;
        float* pr = part.data() + (i - r0) * cols;
        u_diag[size_t(i)] = ur[i];
        std::fill(pr, pr + i, 0.f);
        for (int64_t j = i; j < cols; ++j) pr[j] = float(ur[j]);
      }
      u.insert(u.end(), part.begin(), part.begin() + (r1 - r0) * cols);
      U.release_front(size_t(r1) * row_bytes);
    }
    return true;
  };
}

}  // namespace

GptqFactor gptq_factor(std::span<const double> h, int64_t cols, const GptqOptions& opt) {
  AnonBuffer U;  // (cols, cols) fp64 permuted H, then U in place; mapped once the shapes are checked
  return gptq_factor(h, cols, opt, lapack_route(cols, opt, U));
}

GptqFactor gptq_factor(const dist::SymmetricSlice& whole, std::span<const double> h_diag, int64_t cols,
                       const GptqOptions& opt) {
  SLIM_CHECK(cols > 0 && whole.begin == 0 && int64_t(whole.packed.size()) == cols * (cols + 1) / 2,
             "gptq: a packed {}-wide Hessian needs {} values from 0, got {} from {}", cols, cols * (cols + 1) / 2,
             whole.packed.size(), whole.begin);
  AnonBuffer U;
  return gptq_factor(whole, h_diag, cols, opt, lapack_route(cols, opt, U));
}

GptqResult gptq_quantize(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> h,
                         const GptqOptions& opt) {
  // Refuse bad weights/options before the O(cols³) factorisation.
  validate_weights(w, rows, cols, opt, n_groups(cols, opt.group_size));
  const GptqFactor f = gptq_factor(h, cols, opt);
  GptqResult res = gptq_quantize(w, rows, cols, f, opt);
  res.seconds_factor = f.seconds;
  return res;
}

GptqResult gptq_quantize(std::span<const float> w, int64_t rows, int64_t cols, const GptqFactor& factor,
                         const GptqOptions& opt) {
  const int64_t G = n_groups(cols, opt.group_size), gw = group_width(cols, opt.group_size);
  validate_weights(w, rows, cols, opt, G);
  SLIM_CHECK(factor.cols == cols && int64_t(factor.u.size()) == cols * cols,
             "gptq: the inverse-Hessian factor is {} wide, the weight has {} columns", factor.cols, cols);
  SLIM_CHECK(factor.damp == opt.damp && factor.act_order == opt.act_order &&
                 factor.reference_inverse == opt.reference_inverse && factor.max_damp_retries == opt.max_damp_retries,
             "gptq: the inverse-Hessian factor was built with other options (damp {:g}, act_order {}, "
             "reference_inverse {}, retries {}) than this call (damp {:g}, act_order {}, reference_inverse {}, "
             "retries {})",
             factor.damp, factor.act_order, factor.reference_inverse, factor.max_damp_retries, opt.damp,
             opt.act_order, opt.reference_inverse, opt.max_damp_retries);
  const auto t_start = Clock::now();
  double t_fit = 0;  // seconds inside the group fitter
  const bool grouped = opt.group_size > 0;
  // Per-row quantization is fit once on the whole row before any update, as
  // in GPTQ, i.e. the same as a static group.
  const bool static_fit = opt.static_groups || !grouped;

  GptqResult res;
  res.group_bits = opt.group_bits.empty() ? std::vector<int>(size_t(G), opt.bits) : opt.group_bits;
  res.damp_used = factor.damp_used;
  res.damp_retries = factor.damp_retries;
  res.dead_columns = factor.dead_columns;

  std::vector<float> W(w.begin(), w.end());  // (rows, cols) working weights, quantized in place
  for (int64_t c = 0; c < cols; ++c)
    if (factor.dead[c])
      for (int64_t r = 0; r < rows; ++r) W[r * cols + c] = 0.f;
  const std::vector<int64_t>& perm = factor.perm;
  std::vector<int64_t> invperm(static_cast<size_t>(cols));  // (cols) original column -> position
  for (int64_t i = 0; i < cols; ++i) invperm[perm[i]] = i;
  const bool big_w = rows * cols > (1 << 16);
  const std::vector<double>& ud = factor.u_diag;  // (cols) the GPTQ denominators, by position

  // Group of each position, and the parameters stored (G, rows) so a fit
  // writes one contiguous run.
  std::vector<int64_t> col_group(static_cast<size_t>(cols));  // (cols) by position
  for (int64_t i = 0; i < cols; ++i) col_group[i] = (static_fit ? perm[i] : i) / gw;
  std::vector<QuantParams> gp(static_cast<size_t>(G * rows));  // (G, rows)

  if (static_fit) {
    // Fit every group on the (dead-zeroed) original weights, in original
    // column order, before any error feedback. u_diag follows the columns.
    std::vector<double> gdiag;  // (width)
    for (int64_t g = 0; g < G; ++g) {
      const int64_t c0 = g * gw, width = std::min(gw, cols - c0);
      gdiag.resize(size_t(width));
      for (int64_t k = 0; k < width; ++k) gdiag[k] = ud[invperm[c0 + k]];
      const auto tf = Clock::now();
      fit_group(opt, W.data() + c0, rows, width, cols, gdiag, res.group_bits[g], gp.data() + g * rows);
      t_fit += seconds_since(tf);
    }
    if (opt.act_order) {
      // W was fit unpermuted; now move it to processing order.
      std::vector<float> row(static_cast<size_t>(cols));  // (cols)
      for (int64_t r = 0; r < rows; ++r) {
        float* wr = W.data() + r * cols;
        for (int64_t i = 0; i < cols; ++i) row[i] = wr[perm[i]];
        std::copy(row.begin(), row.end(), wr);
      }
    }
  } else if (opt.act_order) {
#pragma omp parallel if (big_w)
    {
      std::vector<float> row(static_cast<size_t>(cols));  // (cols)
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        float* wr = W.data() + r * cols;
        for (int64_t i = 0; i < cols; ++i) row[i] = wr[perm[i]];
        std::copy(row.begin(), row.end(), wr);
      }
    }
  }

  const int64_t bs = opt.block_size;
  std::vector<float> Err(static_cast<size_t>(rows * bs));  // (rows, bs) scaled errors of the current block
  std::vector<double> row_loss(size_t(rows), 0.0);  // (rows) summed serially: reproducible
  const float* Ufp = factor.u.data();
  float* Wp = W.data();

  for (int64_t i1 = 0, i2 = 0; i1 < cols; i1 = i2) {
    i2 = std::min(i1 + bs, cols);
    // A group that starts inside this block and runs past its end would be
    // fit before its later columns got this block's feedback: end the block
    // at that group start instead (only when block_size % group_size != 0).
    if (!static_fit) {
      const int64_t g_last = ((i2 - 1) / gw) * gw;
      if (g_last > i1 && g_last + gw > i2 && i2 < cols) i2 = g_last;
    }
    const int64_t count = i2 - i1;

    // Segments between group starts: fit (all rows), then every row runs its
    // own sequential column loop.
    for (int64_t s = i1, e = i1; s < i2; s = e) {
      if (!static_fit && s % gw == 0) {
        const int64_t g = s / gw, width = std::min(gw, cols - s);
        const auto tf = Clock::now();
        fit_group(opt, Wp + s, rows, width, cols, std::span<const double>(ud.data() + s, size_t(width)),
                  res.group_bits[g], gp.data() + g * rows);
        t_fit += seconds_since(tf);
      }
      e = static_fit ? i2 : std::min(i2, (s / gw + 1) * gw);
#pragma omp parallel for schedule(static) if (rows * (e - s) * (i2 - s) > (1 << 18))
      for (int64_t r = 0; r < rows; ++r) {
        float* __restrict wr = Wp + r * cols;            // (cols) this row
        float* __restrict er = Err.data() + r * bs;  // (count) this row's errors
        double loss = 0;
        for (int64_t i = s; i < e; ++i) {
          const int64_t g = col_group[i];
          const float x = wr[i];
          const float qv = fake_quant(x, gp[g * rows + r], res.group_bits[g]);
          const float d = Ufp[i * cols + i];
          const float err = (x - qv) / d;
          loss += double(err) * err;  // (w-q)²/d²
          wr[i] = qv;
          er[i - i1] = err;
          const float* __restrict u = Ufp + i * cols;  // U[i, :]
          for (int64_t j = i + 1; j < i2; ++j) wr[j] -= err * u[j];
        }
        row_loss[r] += loss;
      }
    }

    // Lazy batch update of all later columns, per block:
    // W[:, i2:] (rows, cols-i2) -= Err (rows, count) · U[i1:i2, i2:] (count, cols-i2),
    // as one GEMM per kGptqRowChunk rows. Why chunks: OpenBLAS's Haswell sgemm
    // (what AVX2 machines run) rounds an element differently depending on
    // how many rows the call has (2048 x 1024 g128: rows quantized in two
    // slices differed from the whole), so ranks quantizing row shares
    // (gptq_row_share, whole chunks) would not reproduce one process's result.
    // Same-shaped calls over the same chunks give the same bits anywhere. The
    // chunks go to OpenMP threads (OpenBLAS runs single-threaded inside the
    // region), so the thread count does not cut the calls differently either
    // (a one-chunk linear's call is left to OpenBLAS's own threading).
    if (i2 < cols) {
      const int64_t chunks = (rows + kGptqRowChunk - 1) / kGptqRowChunk;
#pragma omp parallel for schedule(static) if (chunks > 1 && rows * (cols - i2) * count > (1 << 18))
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t r0 = c * kGptqRowChunk, m = std::min(kGptqRowChunk, rows - r0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(cols - i2), int(count), -1.f,
                    Err.data() + r0 * bs, int(bs), Ufp + i1 * cols + i2, int(cols), 1.f, Wp + r0 * cols + i2,
                    int(cols));
      }
    }
  }

  res.loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0) / 2;

  // Back to original column order.
  if (opt.act_order) {
    res.q.resize(size_t(rows * cols));
#pragma omp parallel for schedule(static) if (big_w)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i) res.q[r * cols + perm[i]] = W[r * cols + i];
    res.perm.assign(perm.begin(), perm.end());
  } else {
    res.q = std::move(W);
  }
  res.g_idx.resize(size_t(cols));
  for (int64_t c = 0; c < cols; ++c) res.g_idx[c] = int(static_fit ? c / gw : invperm[c] / gw);
  res.params.resize(size_t(rows * G));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < G; ++g) res.params[r * G + g] = gp[g * rows + r];
  res.seconds_fit = t_fit;
  res.seconds_loop = seconds_since(t_start) - t_fit;
  return res;
}

}  // namespace slim
