#include "quant/sba.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>

#include "quant/quantizer.h"
#include "util/error.h"
#include "util/fast_exp.h"

namespace slim {

namespace {

// The vectorised loops below select and compare on integers only: GCC does
// not if-convert float compares under the default -ftrapping-math, and a
// branch stops the loop from vectorising.

// exp(x) for x <= 0 (arguments are always logits minus their maximum), fp32,
// written so the compiler vectorises it (no libm call): Cephes' expf range
// reduction and polynomial, ~1 ulp on [-87, 0]; below -87 it returns
// exp(-87) ≈ 1.6e-38, negligible next to the max term (= 1) of every sum.
inline float exp_nonpos(float x) {
  // x < -87 <=> its bits, read unsigned, exceed those of -87 (sign bit set,
  // larger magnitude); a tiny positive x (rounding) is never clamped.
  const uint32_t bx = std::bit_cast<uint32_t>(x), b87 = 0xc2ae0000u;  // -87.f
  x = std::bit_cast<float>(bx > b87 ? b87 : bx);
  return fast_exp(x);
}

// Order-preserving int32 key of a finite float (an involution), so maxima
// are integer reductions.
inline int32_t float_key(float f) {
  const int32_t b = std::bit_cast<int32_t>(f);
  return b ^ ((b >> 31) & 0x7fffffff);
}
inline float key_float(int32_t k) { return std::bit_cast<float>(k ^ ((k >> 31) & 0x7fffffff)); }

float max_of(const float* y, int64_t n) {
  int32_t m = INT32_MIN;
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = std::max(m, float_key(y[i]));
  return key_float(m);
}

// log Σ exp(y_i) in fp64 from fp32 logits (n).
double log_sum_exp(const float* y, int64_t n) {
  const float m = max_of(y, n);
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += exp_nonpos(y[i] - m);
  return double(m) + std::log(s);
}

// KL( softmax(yq) || softmax(yfp) ) of one token, exact form. a: scratch (n).
// KL = Σ p_q (yq - yfp) - (lse_q - lse_fp); d is re-derived from the fp32
// yq actually used so the value is the KL of the distribution p_q really is.
double token_kl(const float* yfp, const float* e, int64_t n, double lse_fp, float* a) {
  for (int64_t i = 0; i < n; ++i) a[i] = yfp[i] + e[i];
  const float m = max_of(a, n);
  double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t i = 0; i < n; ++i) {
    const float p = exp_nonpos(a[i] - m);
    s1 += p;
    s2 += p * (a[i] - yfp[i]);
  }
  const double kl = s2 / s1 - (double(m) + std::log(s1) - lse_fp);
  return std::max(kl, 0.0);  // rounding can leave -1e-12 on a perfect candidate
}

// The reference's kl_div (spec §2.2): both softmaxes clamped at 1e-6 and not
// renormalised, Σ p_q (log p_q − log p_fp).
double token_kl_clamped(const float* yfp, const float* e, int64_t n, double lse_fp, float* a) {
  for (int64_t i = 0; i < n; ++i) a[i] = yfp[i] + e[i];
  const double lse_q = log_sum_exp(a, n);
  const float lq0 = float(lse_q), lf0 = float(lse_fp);
  const int32_t klo = float_key(std::log(1e-6f));
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    // max(., lo) on keys: both sides are finite.
    const float lq = key_float(std::max(float_key(a[i] - lq0), klo));
    const float lf = key_float(std::max(float_key(yfp[i] - lf0), klo));
    s += exp_nonpos(lq) * (lq - lf);
  }
  return s;
}

// Dequantized RTN of columns [c0, c0+width) of w (rows, cols) at `bits`,
// written to out (rows, width).
void rtn_group(const float* w, int64_t rows, int64_t cols, int64_t c0, int64_t width, int bits, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * cols + c0;  // (width)
    const QuantParams p = fit_minmax({wr, size_t(width)}, bits);
    for (int64_t c = 0; c < width; ++c) out[r * width + c] = fake_quant(wr[c], p, bits);
  }
}

// Full groups ranked by ascending salience, ties by index (deterministic;
// the reference's numpy argsort is not stable).
std::vector<int64_t> rank_groups(std::span<const double> salience, int64_t movable) {
  std::vector<int64_t> order(static_cast<size_t>(movable));  // (movable)
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return salience[a] < salience[b]; });
  return order;
}

void check_bits(int bits) {
  SLIM_CHECK(bits >= 2 && bits <= 7, "sba: target bits must be in 2..7 (groups use N-1..N+1 in 1..8), got {}",
             bits);
}

}  // namespace

int64_t sba_movable_groups(int64_t cols, int group_size) {
  if (group_size <= 0) return 1;
  return cols / group_size;
}

SbaRange sba_candidates(int64_t cols, int group_size, bool faithful) {
  const int64_t M = sba_movable_groups(cols, group_size);
  SbaRange r;
  r.k_first = faithful ? 1 : 0;
  // The reference scans k = 1 .. floor(G/2)-1; k = 0 is added here.
  r.k_last = int(std::max<int64_t>(M / 2 - 1, faithful ? -1 : 0));
  return r;
}

std::vector<int> sba_assign(std::span<const double> salience, int bits, int k, int64_t cols, int group_size) {
  check_bits(bits);
  const int64_t G = n_groups(cols, group_size), M = sba_movable_groups(cols, group_size);
  SLIM_CHECK(int64_t(salience.size()) == G, "sba: {} salience values for {} groups", salience.size(), G);
  SLIM_CHECK(k >= 0 && 2 * int64_t(k) <= M, "sba: k = {} needs {} movable groups, the layer has {}", k, 2 * k, M);
  std::vector<int> out(static_cast<size_t>(G), bits);  // (G)
  if (k == 0) return out;
  const std::vector<int64_t> order = rank_groups(salience, M);
  for (int j = 0; j < k; ++j) {
    out[size_t(order[size_t(j)])] = bits - 1;
    out[size_t(order[size_t(M - 1 - j)])] = bits + 1;
  }
  return out;
}

// State of one layer's search: the candidate deltas (computed once), the
// token chunk being gathered and the KL sums.
struct SbaSearch::Impl {
  std::span<const float> w;  // (rows, cols) caller's weights, referenced
  int64_t rows = 0, cols = 0, gw = 0, M = 0;
  SbaOptions opt;
  SbaRange range;
  std::vector<double> salience;  // (G)
  std::vector<int64_t> order;    // (M) full groups by ascending salience
  int K = 0;                     // last candidate
  std::vector<float> d0;         // (rows, cols) RTN_N(W) − W
  std::vector<float> dlo, dhi;   // (K, rows, gw) change of the j-th group moved down / up
  std::vector<double> kl;        // (candidates) sums so far
  std::vector<float> xc;         // (chunk, cols) gathered tokens
  std::vector<float> yfp, err;   // (chunk, rows) X Wᵀ and X (Wq_k − W)ᵀ
  std::vector<double> lse_fp, kl_tok;  // (chunk) each
  int64_t filled = 0, seen = 0, used = 0;

  bool searching() const { return range.count() > 1; }
  void precompute();
  void process(int64_t n);
};

void SbaSearch::Impl::precompute() {
  const int N = opt.bits;
  const int64_t G = int64_t(salience.size());
  d0.resize(size_t(rows * cols));
  dlo.resize(size_t(K * rows * gw));
  dhi.resize(dlo.size());
#pragma omp parallel if (rows * cols > 65536)
  {
    std::vector<float> qn(static_cast<size_t>(rows * gw)), qx(qn.size());  // (rows, gw) scratch
#pragma omp for schedule(dynamic)
    for (int64_t g = 0; g < G; ++g) {
      const int64_t c0 = g * gw, width = std::min(gw, cols - c0);
      rtn_group(w.data(), rows, cols, c0, width, N, qn.data());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < width; ++c) d0[r * cols + c0 + c] = qn[r * width + c] - w[r * cols + c0 + c];
      // Is g the j-th lowest / highest group for some move j < K?
      for (int j = 0; j < K; ++j) {
        for (int side = 0; side < 2; ++side) {
          const int64_t gj = side == 0 ? order[size_t(j)] : order[size_t(M - 1 - j)];
          if (gj != g) continue;
          rtn_group(w.data(), rows, cols, c0, width, side == 0 ? N - 1 : N + 1, qx.data());
          float* dst = (side == 0 ? dlo : dhi).data() + int64_t(j) * rows * gw;
          for (int64_t i = 0; i < rows * gw; ++i) dst[i] = qx[i] - qn[i];
        }
      }
    }
  }
  const int64_t chunk = opt.chunk_tokens;
  kl.assign(size_t(range.count()), 0.0);
  xc.resize(size_t(chunk * cols));
  yfp.resize(size_t(chunk * rows));
  err.resize(size_t(chunk * rows));
  lse_fp.resize(size_t(chunk));
  kl_tok.resize(size_t(chunk));
}

// KL of every candidate on the n gathered tokens.
void SbaSearch::Impl::process(int64_t n) {
  const int in = int(cols), out = int(rows);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), out, in, 1.f, xc.data(), in, w.data(), in, 0.f,
              yfp.data(), out);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), out, in, 1.f, xc.data(), in, d0.data(), in, 0.f,
              err.data(), out);
#pragma omp parallel for schedule(static) if (n * rows > 32768)
  for (int64_t t = 0; t < n; ++t) lse_fp[t] = log_sum_exp(yfp.data() + t * rows, rows);
  for (int k = 0; k <= K; ++k) {
    if (k > 0) {
      // Move j = k-1: its low group drops to N-1, its high group rises to N+1.
      for (int side = 0; side < 2; ++side) {
        const int64_t g = side == 0 ? order[size_t(k - 1)] : order[size_t(M - k)];
        const float* delta = (side == 0 ? dlo : dhi).data() + int64_t(k - 1) * rows * gw;  // (rows, gw)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), out, int(gw), 1.f, xc.data() + g * gw, in,
                    delta, int(gw), 1.f, err.data(), out);
      }
    }
    if (k < range.k_first) continue;
#pragma omp parallel if (n * rows > 32768)
    {
      std::vector<float> a(static_cast<size_t>(rows));  // (rows) scratch logits
#pragma omp for schedule(static)
      for (int64_t t = 0; t < n; ++t) {
        const float* yt = yfp.data() + t * rows;
        const float* et = err.data() + t * rows;
        kl_tok[t] = opt.faithful ? token_kl_clamped(yt, et, rows, lse_fp[t], a.data())
                                 : token_kl(yt, et, rows, lse_fp[t], a.data());
      }
    }
    double s = 0;  // serial: the sums do not depend on the thread count
    for (int64_t t = 0; t < n; ++t) s += kl_tok[t];
    kl[size_t(k - range.k_first)] += s;
  }
}

SbaSearch::SbaSearch(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> salience,
                     const SbaOptions& opt)
    : impl_(std::make_unique<Impl>()) {
  check_bits(opt.bits);
  SLIM_CHECK(rows > 0 && cols > 0, "sba: empty weight ({}x{})", rows, cols);
  SLIM_CHECK(int64_t(w.size()) == rows * cols, "sba: weight has {} values, expected {}x{}", w.size(), rows, cols);
  SLIM_CHECK(opt.token_stride >= 1, "sba: token_stride must be >= 1, got {}", opt.token_stride);
  SLIM_CHECK(opt.chunk_tokens >= 1, "sba: chunk_tokens must be >= 1, got {}", opt.chunk_tokens);
  const int64_t G = n_groups(cols, opt.group_size);
  SLIM_CHECK(int64_t(salience.size()) == G, "sba: {} salience values for {} groups", salience.size(), G);
  for (int64_t g = 0; g < G; ++g)
    SLIM_CHECK(std::isfinite(salience[g]), "sba: non-finite salience {} of group {}", salience[g], g);
  Impl& s = *impl_;
  s.w = w;
  s.rows = rows;
  s.cols = cols;
  s.gw = group_width(cols, opt.group_size);
  s.M = sba_movable_groups(cols, opt.group_size);
  s.opt = opt;
  s.range = sba_candidates(cols, opt.group_size, opt.faithful);
  s.salience.assign(salience.begin(), salience.end());
  if (!s.searching()) return;  // nothing to choose: no candidates, no tokens needed
  for (int64_t i = 0; i < rows * cols; ++i)
    SLIM_CHECK(std::isfinite(w[i]), "sba: non-finite weight {} at row {}, col {}", w[i], i / cols, i % cols);
  s.K = s.range.k_last;
  s.order = rank_groups(salience, s.M);
  s.precompute();
}

SbaSearch::~SbaSearch() = default;
SbaSearch::SbaSearch(SbaSearch&&) noexcept = default;
SbaSearch& SbaSearch::operator=(SbaSearch&&) noexcept = default;

bool SbaSearch::needs_activations() const { return impl_->searching(); }
int64_t SbaSearch::tokens_used() const { return impl_->used; }

void SbaSearch::add(const float* x, int64_t tokens) {
  Impl& s = *impl_;
  SLIM_CHECK(tokens >= 0 && (tokens == 0 || x), "sba: invalid activation block ({} tokens)", tokens);
  if (!s.searching()) return;
  const int64_t cols = s.cols, chunk = s.opt.chunk_tokens;
  for (int64_t t = 0; t < tokens; ++t, ++s.seen) {
    if (s.seen % s.opt.token_stride != 0) continue;
    const float* src = x + t * cols;  // (cols)
    for (int64_t c = 0; c < cols; ++c)
      SLIM_CHECK(std::isfinite(src[c]), "sba: non-finite activation {} at token {} (global {}), channel {}", src[c],
                 t, s.seen, c);
    std::copy(src, src + cols, s.xc.data() + s.filled * cols);
    ++s.used;
    if (++s.filled == chunk) {
      s.process(s.filled);
      s.filled = 0;
    }
  }
}

SbaResult SbaSearch::finish() {
  Impl& s = *impl_;
  SbaResult res;
  res.k_first = s.range.k_first;
  if (!s.searching()) {
    res.k = s.range.count() == 1 ? s.range.k_first : 0;
    res.group_bits = sba_assign(s.salience, s.opt.bits, res.k, s.cols, s.opt.group_size);
    return res;
  }
  if (s.filled > 0) {
    s.process(s.filled);
    s.filled = 0;
  }
  SLIM_CHECK(s.used > 0, "sba: no calibration tokens for the KL search ({} seen, stride {})", s.seen,
             s.opt.token_stride);
  int best = 0;
  for (size_t i = 1; i < s.kl.size(); ++i)
    if (s.kl[i] < s.kl[size_t(best)]) best = int(i);  // strict: the first (smallest k) wins ties
  res.k = s.range.k_first + best;
  res.kl = s.kl;
  res.tokens_used = s.used;
  res.group_bits = sba_assign(s.salience, s.opt.bits, res.k, s.cols, s.opt.group_size);
  return res;
}

SbaResult sba_search(std::span<const float> w, int64_t rows, int64_t cols, std::span<const double> salience,
                     std::span<const ActivationBlock> acts, const SbaOptions& opt) {
  for (size_t b = 0; b < acts.size(); ++b)
    SLIM_CHECK(acts[b].tokens >= 0 && (acts[b].tokens == 0 || acts[b].x), "sba: activation block {} is invalid", b);
  SbaSearch search(w, rows, cols, salience, opt);
  for (const ActivationBlock& b : acts) search.add(b.x, b.tokens);
  return search.finish();
}

}  // namespace slim
