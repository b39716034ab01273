#include "quant/sqc.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "quant/quantizer.h"
#include "quant/sqc_kernel.h"
#include "util/error.h"
#include "util/fast_exp.h"

namespace slim {

namespace {

// exp(y) for |y| <= ~40 (util/fast_exp.h).
inline float exp_small(float y) { return fast_exp(y); }

// |x|^2.4 = x² · |x|^0.4, |x|^0.4 = exp(0.4 ln|x|). ln from the exponent
// field and an atanh series on the mantissa m in [√½, √2) (|t| <= 0.172,
// truncation < 3e-9). x = 0 or a denormal gives x² = 0, so the (finite)
// value of the log branch does not matter. Every select is on integers:
// GCC will not if-convert float compares under the default -ftrapping-math,
// and a branch would stop the loop from vectorising.
inline float pow24(float x) {
  const int32_t bits = std::bit_cast<int32_t>(x) & 0x7fffffff;  // |x|
  const int32_t mant = bits & 0x007fffff;
  const int32_t big = mant > 0x003504f3 ? 1 : 0;  // mantissa > √2: halve it
  const float m = std::bit_cast<float>(mant | (0x3f800000 - (big << 23)));
  const float ex = float((bits >> 23) - 127 + big);
  const float t = (m - 1.f) / (m + 1.f), t2 = t * t;
  float s = std::fma(t2, 1.f / 9.f, 1.f / 7.f);
  s = std::fma(t2, s, 1.f / 5.f);
  s = std::fma(t2, s, 1.f / 3.f);
  s = std::fma(t2, s, 1.f);
  const float lnm = 2.f * t * s;
  // ex·ln2 with ln2 split so the large part is exact.
  const float ln = std::fma(ex, 0.693359375f, std::fma(ex, -2.12194440e-4f, lnm));
  const float a = std::bit_cast<float>(bits);
  return a * a * exp_small(0.4f * ln);
}

// A row copied into 16-padded buffers for the kernel (sqc_kernel.h): the
// padding is w = 0, weight = 0, which adds exactly 0 under any candidate.
struct PaddedRow {
  std::vector<float> w, weight;  // (n rounded up to 16) each; weight empty: all 1
  sqc_kernel::Row set(std::span<const float> src, std::span<const float> wt) {
    const size_t n = (src.size() + sqc_kernel::kLanes - 1) / sqc_kernel::kLanes * sqc_kernel::kLanes;
    w.assign(n, 0.f);
    std::copy(src.begin(), src.end(), w.begin());
    if (wt.empty()) {
      weight.clear();
    } else {
      weight.assign(n, 0.f);
      std::copy(wt.begin(), wt.end(), weight.begin());
    }
    return {w.data(), wt.empty() ? nullptr : weight.data(), int64_t(n)};
  }
};

PaddedRow& scratch_row() {
  thread_local PaddedRow r;
  return r;
}

// Reference: cat([1], linspace(1, 1.1, 51)[1:], linspace(1, 0.9, 51)[1:]);
// p_min generalises the last piece to linspace(1, p_min, 51)[1:].
std::array<float, 101> make_grid(double p_min) {
  std::array<float, 101> g{};
  g[0] = 1.f;
  for (int i = 1; i <= 50; ++i) {
    g[size_t(i)] = float(1.0 + 0.1 * i / 50.0);
    g[size_t(50 + i)] = float(1.0 - (1.0 - p_min) * i / 50.0);
  }
  return g;
}

const std::array<float, 101> kGrid = make_grid(0.9);

}  // namespace

std::span<const float> sqc_grid() { return kGrid; }

std::array<float, 101> sqc_grid(double p_min) {
  SLIM_CHECK(std::isfinite(p_min) && p_min > 0 && p_min < 1, "sqc: the grid's lower end must be in (0, 1), got {}",
             p_min);
  return make_grid(p_min);
}

QuantParams fit_binary_lloyd(std::span<const float> w, int iters) {
  SLIM_CHECK(!w.empty(), "sqc: cannot fit an empty segment");
  QuantParams p = fit_minmax(w, 1);
  double zero = p.zero, lo = 0, hi = 0;
  for (int it = 0; it < std::max(iters, 1); ++it) {
    double sl = 0, sh = 0;
    int64_t nl = 0, nh = 0;
    for (float x : w) {
      if (x > zero) {
        sh += x;
        ++nh;
      } else if (x < zero) {
        sl += x;
        ++nl;
      }
    }
    if (nl == 0 || nh == 0) return p;  // constant segment: the mean fit is exact
    lo = sl / double(nl);
    hi = sh / double(nh);
    zero = 0.5 * (lo + hi);
  }
  p.zero = f16_value(float(zero));
  p.scale = f16_scale(float(0.5 * (hi - lo)));
  return p;
}

float sqc_pow24(float x) { return pow24(x); }

double sqc_salience_threshold(const float* w, int64_t rows, int64_t width, int64_t ld, std::span<const double> u_diag,
                              const SqcOptions& opt) {
  SLIM_CHECK(int64_t(u_diag.size()) == width, "sqc: U diagonal has {} values for a group of {} columns",
             u_diag.size(), width);
  const double inf = std::numeric_limits<double>::infinity();
  const int64_t n = rows * width;
  if (n < 2) return inf;  // unbiased std undefined: no outliers
  std::vector<double> inv_u2(static_cast<size_t>(width));  // (width)
  for (int64_t c = 0; c < width; ++c) inv_u2[c] = 1.0 / (u_diag[c] * u_diag[c]);
  double sum = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) {
      const double x = double(w[r * ld + c]), s = x * x * inv_u2[c];
      sum += s;
    }
  const double mu = sum / double(n);
  // Two-pass variance for accuracy (the one-pass form cancels when σ << μ).
  double var = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) {
      const double x = double(w[r * ld + c]), d = x * x * inv_u2[c] - mu;
      var += d * d;
    }
  const double sigma = std::sqrt(var / double(n - 1));
  if (!(sigma > 0) || !std::isfinite(sigma)) return inf;
  double t = inf;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) {
      const double x = double(w[r * ld + c]), s = x * x * inv_u2[c];
      const double z = (s - mu) / sigma;
      if ((opt.faithful ? std::fabs(z) : z) > opt.z) t = std::min(t, s);
    }
  return t;
}

double sqc_row_objective(std::span<const float> w, std::span<const float> weight, const QuantParams& p, int bits) {
  SLIM_CHECK(bits >= 1 && bits <= 8, "sqc: bits must be in 1..8, got {}", bits);
  SLIM_CHECK(weight.empty() || weight.size() == w.size(), "sqc: {} weights for {} values", weight.size(), w.size());
  if (bits == 1) {
    double s = 0;
    for (size_t c = 0; c < w.size(); ++c)
      s += (weight.empty() ? 1.f : weight[c]) * pow24(fake_quant(w[c], p, 1) - w[c]);
    return s;
  }
  return sqc_kernel::row_error(scratch_row().set(w, weight), p.scale, p.zero, float((1 << bits) - 1));
}

SqcPlan make_sqc_plan(std::span<const float> grid, int coarse, bool local) {
  SLIM_CHECK(!grid.empty() && grid.size() <= 101 && grid[0] == 1.f,
             "sqc: the grid must hold 1..101 factors starting with 1.0");
  SLIM_CHECK(coarse >= 0 && coarse <= 50, "sqc: the coarse stride must be in 0..50, got {}", coarse);
  SLIM_CHECK(!local || coarse >= 2, "sqc: a local refinement needs a coarse stride >= 2");
  const int n = int(grid.size());
  SqcPlan plan;
  plan.grid.assign(grid.begin(), grid.end());
  plan.stride = coarse;
  plan.local = local;
  plan.by_value.resize(size_t(n));
  std::iota(plan.by_value.begin(), plan.by_value.end(), 0);
  std::stable_sort(plan.by_value.begin(), plan.by_value.end(), [&](int a, int b) { return grid[a] < grid[b]; });
  plan.rank.resize(size_t(n));
  for (int r = 0; r < n; ++r) plan.rank[size_t(plan.by_value[size_t(r)])] = r;
  plan.in_coarse.assign(size_t(n), 0);
  if (coarse >= 2) {
    for (int r = 0; r < n; r += coarse) plan.in_coarse[size_t(r)] = 1;
    plan.in_coarse[size_t(n - 1)] = 1;
    plan.in_coarse[size_t(plan.rank[0])] = 1;  // 1.0: never worse than min-max
    plan.coarse.push_back(0);                   // and first: a fair start for pruning
    for (int r = 0; r < n; ++r)
      if (plan.in_coarse[size_t(r)] && plan.by_value[size_t(r)] != 0) plan.coarse.push_back(plan.by_value[size_t(r)]);
  }
  return plan;
}

QuantParams sqc_fit_row(std::span<const float> w, std::span<const float> weight, int bits,
                        std::span<const float> grid, bool prune) {
  return sqc_fit_row(w, weight, bits, make_sqc_plan(grid), prune);
}

QuantParams sqc_fit_row(std::span<const float> w, std::span<const float> weight, int bits, const SqcPlan& plan,
                        bool prune) {
  SLIM_CHECK(bits >= 1 && bits <= 8, "sqc: bits must be in 1..8, got {}", bits);
  SLIM_CHECK(!w.empty(), "sqc: cannot fit an empty segment");
  SLIM_CHECK(weight.empty() || weight.size() == w.size(), "sqc: {} weights for {} values", weight.size(), w.size());
  if (bits == 1) return fit_minmax(w, 1);
  // Per-row range, hoisted out of the grid loop (fit_minmax's rules).
  const auto [xmin, xmax] = zero_containing_range(w);
  const float maxq = float((1 << bits) - 1);
  const std::span<const float> grid = plan.grid;
  SLIM_CHECK(!grid.empty() && grid.size() <= 101 && grid[0] == 1.f,
             "sqc: the grid must hold 1..101 factors starting with 1.0");
  std::array<float, 101> scale, zero;  // the candidates, grid order
  for (size_t i = 0; i < grid.size(); ++i) {
    // fp32 in the reference's order: p·xmin, p·xmax, then the scale.
    const float p = grid[i], lo = p * xmin, hi = p * xmax;
    scale[i] = f16_scale((hi - lo) / maxq);
    zero[i] = std::clamp(std::nearbyint(-lo / scale[i]), 0.f, maxq);
  }
  const sqc_kernel::Row row = scratch_row().set(w, weight);
  sqc_kernel::Best best;
  if (plan.coarse.empty()) {
    sqc_kernel::best_candidate(row, scale.data(), zero.data(), nullptr, int(grid.size()), maxq, prune, &best);
  } else {
    // The kernel takes the candidates packed in visiting order.
    std::array<float, 101> s, z;
    std::array<int, 101> idx;
    int m = 0;
    auto add = [&](int i) {
      s[size_t(m)] = scale[size_t(i)];
      z[size_t(m)] = zero[size_t(i)];
      idx[size_t(m++)] = i;
    };
    for (int i : plan.coarse) add(i);
    sqc_kernel::best_candidate(row, s.data(), z.data(), idx.data(), m, maxq, prune, &best);
    // Refinement around the coarse winner's value rank b, nearest first.
    const int n = int(grid.size()), b = best.index < 0 ? plan.rank[0] : plan.rank[size_t(best.index)];
    int lo = 0, hi = n - 1;  // value positions that may be visited
    if (plan.local) {
      lo = b;
      while (lo > 0 && !plan.in_coarse[size_t(lo - 1)]) --lo;
      hi = b;
      while (hi < n - 1 && !plan.in_coarse[size_t(hi + 1)]) ++hi;
    }
    m = 0;
    for (int d = 1; b - d >= lo || b + d <= hi; ++d)
      for (int r : {b - d, b + d})
        if (r >= lo && r <= hi && !plan.in_coarse[size_t(r)]) add(plan.by_value[size_t(r)]);
    sqc_kernel::best_candidate(row, s.data(), z.data(), idx.data(), m, maxq, prune, &best);
  }
  // All errors non-finite cannot happen for finite w; keep min-max then.
  if (best.index < 0 || !std::isfinite(best.err)) return fit_minmax(w, bits);
  return {scale[size_t(best.index)], zero[size_t(best.index)]};
}

int sqc_local_min_bits(const std::string& refine) {
  if (refine == "all") return 0;
  if (refine == "local") return 2;
  if (refine == "auto") return 3;
  fail("unknown --sqc-refine '{}' (all, local, auto)", refine);
}

GroupFitter make_sqc_fitter(const SqcOptions& opt) {
  SLIM_CHECK(std::isfinite(opt.lambda) && opt.lambda > 0, "sqc: lambda must be finite and > 0, got {}", opt.lambda);
  SLIM_CHECK(std::isfinite(opt.z), "sqc: z threshold must be finite, got {}", opt.z);
  SLIM_CHECK(opt.binary_iters >= 0, "sqc: binary_iters must be >= 0, got {}", opt.binary_iters);
  SLIM_CHECK(opt.local_min_bits == 0 || (opt.local_min_bits >= 2 && opt.coarse >= 2),
             "sqc: a local refinement (from {} bits) needs bits >= 2 and a coarse stride >= 2, got stride {}",
             opt.local_min_bits, opt.coarse);
  const std::array<float, 101> grid = sqc_grid(opt.p_min);
  // Both plans up front: the width is known per group only.
  const SqcPlan exact = make_sqc_plan(grid, opt.coarse, false);
  const SqcPlan local = opt.local_min_bits > 0 ? make_sqc_plan(grid, opt.coarse, true) : exact;
  return [opt, exact, local](const float* w, int64_t rows, int64_t width, int64_t ld, std::span<const double> u_diag,
                             int bits, QuantParams* out) {
    if (bits == 1) {
      for (int64_t r = 0; r < rows; ++r)
        out[r] = opt.binary_iters > 0 ? fit_binary_lloyd({w + r * ld, size_t(width)}, opt.binary_iters)
                                      : fit_minmax({w + r * ld, size_t(width)}, 1);
      return;
    }
    // λ = 1 weights everything alike: the split (and its statistics) is moot.
    const double t = opt.lambda == 1.0 ? std::numeric_limits<double>::infinity()
                                       : sqc_salience_threshold(w, rows, width, ld, u_diag, opt);
    const bool weighted = std::isfinite(t);
    const SqcPlan& plan = opt.local_min_bits > 0 && bits >= opt.local_min_bits ? local : exact;
#pragma omp parallel if (rows * width >= 4096)
    {
      std::vector<float> wt(static_cast<size_t>(weighted ? width : 0));  // (width) this row's weights
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const float* wr = w + r * ld;  // (width)
        bool any = false;
        for (int64_t c = 0; c < int64_t(wt.size()); ++c) {
          // Same double arithmetic as the threshold, so ties classify alike.
          const double x = double(wr[c]), s = x * x * (1.0 / (u_diag[c] * u_diag[c]));
          const bool sal = s >= t;
          wt[c] = sal ? float(opt.lambda) : 1.f;
          any |= sal;
        }
        out[r] = sqc_fit_row({wr, size_t(width)}, any ? std::span<const float>(wt) : std::span<const float>(), bits,
                             plan);
      }
    }
  };
}

}  // namespace slim
