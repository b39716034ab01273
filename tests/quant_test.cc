// Quantizer, RTN and GPTQ tests. Expected quantizer values are worked out by
// hand in the comments; GPTQ is checked against RTN on the layer-output error
// it minimises, against an unblocked textbook GPTQ, and on its edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "quant/gptq.h"
#include "quant/linalg.h"
#include "quant/quantizer.h"
#include "util/error.h"

using namespace slim;

namespace {

std::vector<float> dequant_all(const std::vector<float>& w, int bits) {
  const QuantParams p = fit_minmax(w, bits);
  std::vector<float> q;
  for (float x : w) q.push_back(fake_quant(x, p, bits));
  return q;
}

// A generated linear layer and its calibration input.
struct Layer {
  int64_t rows, cols, tokens;
  std::vector<float> w;   // (rows, cols)
  std::vector<float> x;   // (tokens, cols)
  std::vector<double> h;  // (cols, cols) 2/n XᵀX
};

// X = Z + shared low-rank part (correlated channels), with `outliers`
// channels scaled x20: the setting where GPTQ's error feedback matters.
Layer make_layer(int64_t rows, int64_t cols, int64_t tokens, int outliers, uint32_t seed) {
  Layer L{rows, cols, tokens, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  L.w.resize(size_t(rows * cols));
  for (auto& v : L.w) v = nd(rng);
  const int64_t k = 8;
  std::vector<float> z(static_cast<size_t>(tokens * k)), m(size_t(k * cols));  // (tokens, k), (k, cols)
  for (auto& v : z) v = nd(rng);
  for (auto& v : m) v = nd(rng);
  L.x.resize(size_t(tokens * cols));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < cols; ++c) {
      float s = 0.5f * nd(rng);
      for (int64_t j = 0; j < k; ++j) s += z[t * k + j] * m[j * cols + c];
      L.x[t * cols + c] = s;
    }
  for (int o = 0; o < outliers; ++o) {
    const int64_t c = (o * 37 + 11) % cols;
    for (int64_t t = 0; t < tokens; ++t) L.x[t * cols + c] *= 20.f;
  }
  L.h.assign(size_t(cols * cols), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < cols; ++i) {
      const double xi = L.x[t * cols + i];
      for (int64_t j = 0; j < cols; ++j) L.h[i * cols + j] += xi * L.x[t * cols + j];
    }
  for (auto& v : L.h) v *= 2.0 / double(tokens);
  return L;
}

// ||X Wᵀ − X Qᵀ||_F
double output_error(const Layer& L, const std::vector<float>& q) {
  double s = 0;
  for (int64_t t = 0; t < L.tokens; ++t)
    for (int64_t r = 0; r < L.rows; ++r) {
      double d = 0;
      for (int64_t c = 0; c < L.cols; ++c) d += double(L.x[t * L.cols + c]) * (L.w[r * L.cols + c] - q[r * L.cols + c]);
      s += d * d;
    }
  return std::sqrt(s);
}

double rtn_error(const Layer& L, int bits, int gs) {
  std::vector<float> q(L.w.size());
  rtn_quantize(L.w.data(), L.rows, L.cols, bits, gs, q.data());
  return output_error(L, q);
}

GptqResult run_gptq(const Layer& L, GptqOptions o) { return gptq_quantize(L.w, L.rows, L.cols, L.h, o); }

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace

// ---- quantizer -------------------------------------------------------------

TEST(Quantizer, TwoBitHandChecked) {
  // xmin -1, xmax 2, scale 3/3 = 1, zero round(1) = 1. 0.5/1 rounds half to
  // even -> 0, +1 = code 1 -> 0 (half-away-from-zero would give 1).
  const QuantParams p = fit_minmax(std::vector<float>{-1.f, 0.5f, 2.f}, 2);
  EXPECT_FLOAT_EQ(p.scale, 1.f);
  EXPECT_FLOAT_EQ(p.zero, 1.f);
  EXPECT_EQ(dequant_all({-1.f, 0.5f, 2.f}, 2), (std::vector<float>{-1.f, 0.f, 2.f}));
  EXPECT_EQ(quant_code(-1.f, p, 2), 0);
  EXPECT_EQ(quant_code(0.5f, p, 2), 1);
  EXPECT_EQ(quant_code(2.f, p, 2), 3);
}

TEST(Quantizer, ThreeBitHandChecked) {
  // xmin -2, xmax 5, scale 7/7 = 1, zero 2. 0.5 -> 0 (even) +2 = 2 -> 0;
  // 1.5 -> 2 +2 = 4 -> 2; 5 -> 7 -> 5.
  const std::vector<float> w{-2.f, 0.5f, 1.5f, 5.f};
  const QuantParams p = fit_minmax(w, 3);
  EXPECT_FLOAT_EQ(p.scale, 1.f);
  EXPECT_FLOAT_EQ(p.zero, 2.f);
  EXPECT_EQ(dequant_all(w, 3), (std::vector<float>{-2.f, 0.f, 2.f, 5.f}));
  EXPECT_EQ(quant_code(1.5f, p, 3), 4);
}

TEST(Quantizer, FourBitHandChecked) {
  // xmin -3, xmax 12, scale 15/15 = 1, zero 3. 0.25 -> 0 +3 -> 0;
  // 2.5 -> 2 (even) +3 = 5 -> 2; -1.5 -> -2 (even) +3 = 1 -> -2.
  const std::vector<float> w{-3.f, -1.f, -1.5f, 0.25f, 2.5f, 12.f};
  const QuantParams p = fit_minmax(w, 4);
  EXPECT_FLOAT_EQ(p.scale, 1.f);
  EXPECT_FLOAT_EQ(p.zero, 3.f);
  EXPECT_EQ(dequant_all(w, 4), (std::vector<float>{-3.f, -1.f, -2.f, 0.f, 2.f, 12.f}));
  EXPECT_EQ(quant_code(12.f, p, 4), 15);
}

TEST(Quantizer, EightBitHandChecked) {
  // xmin -64, xmax 191, scale 255/255 = 1, zero 64. 0.75 -> 1 -> 65 -> 1;
  // 10.5 -> 10 (even) -> 74 -> 10; 191 -> 255.
  const std::vector<float> w{-64.f, 0.75f, 10.5f, 191.f};
  const QuantParams p = fit_minmax(w, 8);
  EXPECT_FLOAT_EQ(p.scale, 1.f);
  EXPECT_FLOAT_EQ(p.zero, 64.f);
  EXPECT_EQ(dequant_all(w, 8), (std::vector<float>{-64.f, 1.f, 10.f, 191.f}));
  EXPECT_EQ(quant_code(-64.f, p, 8), 0);
  EXPECT_EQ(quant_code(10.5f, p, 8), 74);
  EXPECT_EQ(quant_code(191.f, p, 8), 255);
}

TEST(Quantizer, OneBitHandChecked) {
  // zero = mean = 4/4 = 1, scale = mean|w| = 6/4 = 1.5.
  // -1: -1.5+1 = -0.5; 1 (w == zero: code 1, as the packed format stores it) -> 1.5+1 = 2.5; 3: 2.5.
  const std::vector<float> w{-1.f, 1.f, 3.f, 1.f};
  const QuantParams p = fit_minmax(w, 1);
  EXPECT_FLOAT_EQ(p.zero, 1.f);
  EXPECT_FLOAT_EQ(p.scale, 1.5f);
  EXPECT_EQ(dequant_all(w, 1), (std::vector<float>{-0.5f, 2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(quant_code(-1.f, p, 1), 0);
  EXPECT_EQ(quant_code(3.f, p, 1), 1);
  EXPECT_EQ(quant_code(1.f, p, 1), 1);
}

TEST(Quantizer, AllZeroSegment) {
  // GPTQ maps an all-zero range to [-1, 1]: scale 2/maxq, zeros stay zeros.
  const std::vector<float> z(5, 0.f);
  for (int b : {2, 3, 4, 8}) {
    const QuantParams p = fit_minmax(z, b);
    EXPECT_EQ(p.scale, f16_scale(2.f / float((1 << b) - 1))) << b;
    EXPECT_EQ(p.zero, std::nearbyint(1.f / p.scale)) << b;
    for (float q : dequant_all(z, b)) EXPECT_EQ(q, 0.f) << b;
  }
  const QuantParams p1 = fit_minmax(z, 1);
  EXPECT_EQ(p1.scale, 0.f);
  for (float q : dequant_all(z, 1)) EXPECT_EQ(q, 0.f);
}

TEST(Quantizer, ParamsAreFp16Representable) {
  // The packed format stores scales and 1-bit means as fp16; the fake-quant
  // model must be exactly that model, so every fit returns fp16 values.
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> w(37);
  for (int b : {1, 2, 3, 4, 8})
    for (int t = 0; t < 20; ++t) {
      for (float& x : w) x = nd(rng);
      const QuantParams p = fit_minmax(w, b);
      EXPECT_EQ(p.scale, f16_value(p.scale)) << b;
      EXPECT_EQ(p.zero, f16_value(p.zero)) << b;
      if (b > 1) {
        EXPECT_TRUE(p.zero >= 0 && p.zero <= float((1 << b) - 1)) << b;
      }
    }
  // Tiny ranges keep a positive scale (fp16 would flush them to 0).
  const std::vector<float> tiny{1e-12f, -2e-12f, 3e-12f};
  EXPECT_GT(fit_minmax(tiny, 2).scale, 0.f);
}

TEST(Quantizer, HalfEvenAndClamp) {
  const QuantParams p{1.f, 0.f};
  EXPECT_EQ(fake_quant(0.5f, p, 8), 0.f);
  EXPECT_EQ(fake_quant(1.5f, p, 8), 2.f);
  EXPECT_EQ(fake_quant(2.5f, p, 8), 2.f);
  EXPECT_EQ(fake_quant(3.5f, p, 8), 4.f);
  // Out-of-range values clamp to the code range [0, 3] with zero 1: [-1, 2].
  const QuantParams p2{1.f, 1.f};
  EXPECT_EQ(fake_quant(5.f, p2, 2), 2.f);
  EXPECT_EQ(fake_quant(-4.f, p2, 2), -1.f);
}

TEST(Quantizer, BadBitsThrow) {
  const std::vector<float> w{1.f, 2.f};
  EXPECT_THROW(fit_minmax(w, 0), Error);
  EXPECT_THROW(fit_minmax(w, 9), Error);
  std::vector<float> q(2);
  EXPECT_THROW(rtn_quantize(w.data(), 1, 2, 16, -1, q.data()), Error);
}

// ---- RTN ---------------------------------------------------------------------

TEST(Rtn, PartialLastGroup) {
  // 172 = 64 + 64 + 44.
  const int64_t rows = 3, cols = 172;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> w(static_cast<size_t>(rows * cols)), q(w.size());
  for (auto& v : w) v = nd(rng);
  std::vector<QuantParams> params;
  rtn_quantize(w.data(), rows, cols, 3, 64, q.data(), &params);
  ASSERT_EQ(n_groups(cols, 64), 3);
  ASSERT_EQ(params.size(), size_t(rows * 3));
  for (int64_t r = 0; r < rows; ++r) {
    const QuantParams last = fit_minmax({w.data() + r * cols + 128, 44}, 3);
    EXPECT_EQ(params[r * 3 + 2].scale, last.scale);
    EXPECT_EQ(params[r * 3 + 2].zero, last.zero);
    for (int64_t c = 128; c < cols; ++c) EXPECT_EQ(q[r * cols + c], fake_quant(w[r * cols + c], last, 3));
  }
}

TEST(Rtn, GroupWiderThanRow) {
  // cols 64 with group 128: one partial group covering the row.
  const int64_t rows = 2, cols = 64;
  std::vector<float> w(static_cast<size_t>(rows * cols)), q(w.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(float(i));
  std::vector<QuantParams> params;
  rtn_quantize(w.data(), rows, cols, 4, 128, q.data(), &params);
  ASSERT_EQ(params.size(), size_t(rows));
  std::vector<float> q_row(q.size());
  rtn_quantize(w.data(), rows, cols, 4, -1, q_row.data());
  EXPECT_EQ(q, q_row);
}

TEST(Rtn, NonFiniteWeightsThrow) {
  std::vector<float> w{1.f, 2.f, 3.f, 4.f}, q(4);
  w[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(rtn_quantize(w.data(), 2, 2, 4, -1, q.data()), Error);
  w[2] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(rtn_quantize(w.data(), 2, 2, 4, -1, q.data()), Error);
}

// ---- linalg ------------------------------------------------------------------

TEST(GptqLinalg, FastInverseCholeskyMatchesReference) {
  const Layer L = make_layer(1, 96, 200, 2, 3);
  const int64_t n = L.cols;
  std::vector<double> a = L.h, b = L.h;
  for (int64_t i = 0; i < n; ++i) a[i * n + i] += 0.01, b[i * n + i] += 0.01;
  ASSERT_TRUE(inverse_cholesky_upper(a.data(), n));
  ASSERT_TRUE(inverse_cholesky_upper_reference(b.data(), n));
  double maxdiff = 0, maxabs = 0;
  for (int64_t i = 0; i < n * n; ++i) {
    maxdiff = std::max(maxdiff, std::fabs(a[i] - b[i]));
    maxabs = std::max(maxabs, std::fabs(b[i]));
  }
  EXPECT_LT(maxdiff, 1e-9 * maxabs);
  // Uᵀ U (H + 0.01 I) = I.
  std::vector<double> hinv(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k <= std::min(i, j); ++k) hinv[i * n + j] += a[k * n + i] * a[k * n + j];
  for (int64_t i = 0; i < n; i += 7)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += hinv[i * n + k] * (L.h[k * n + j] + (k == j ? 0.01 : 0.0));
      EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 1e-8);
    }
  std::vector<double> bad(4, 0.0);
  bad[0] = 1, bad[3] = -1;  // diag(1, -1)
  EXPECT_FALSE(inverse_cholesky_upper(bad.data(), 2));
}

// ---- GPTQ --------------------------------------------------------------------

TEST(Gptq, BeatsRtnOnOutlierLayer) {
  const Layer L = make_layer(64, 256, 512, 4, 7);
  for (int bits : {2, 3, 4})
    for (int gs : {32, -1}) {
      GptqOptions o;
      o.bits = bits;
      o.group_size = gs;
      const GptqResult r = run_gptq(L, o);
      const double eg = output_error(L, r.q), er = rtn_error(L, bits, gs);
      EXPECT_LT(eg, er) << "bits " << bits << " group " << gs;
      EXPECT_EQ(r.damp_retries, 0);
      EXPECT_GT(r.loss, 0);
    }
}

TEST(Gptq, ActOrderAndStaticGroupsBeatRtn) {
  const Layer L = make_layer(64, 256, 512, 4, 8);
  for (int bits : {2, 3, 4})
    for (auto [act, stat] : {std::pair{true, false}, {true, true}, {false, true}}) {
      GptqOptions o;
      o.bits = bits;
      o.group_size = 32;
      o.act_order = act;
      o.static_groups = stat;
      const GptqResult r = run_gptq(L, o);
      EXPECT_LT(output_error(L, r.q), rtn_error(L, bits, 32)) << bits << " act " << act << " static " << stat;
      ASSERT_EQ(r.g_idx.size(), size_t(L.cols));
      EXPECT_EQ(r.perm.size(), act ? size_t(L.cols) : 0u);
      if (stat) {
        for (int64_t c = 0; c < L.cols; ++c) EXPECT_EQ(r.g_idx[c], c / 32);
      }
      // Each column's value must be on its group's grid.
      for (int64_t row = 0; row < L.rows; ++row)
        for (int64_t c = 0; c < L.cols; c += 5) {
          const QuantParams& p = r.params[row * 8 + r.g_idx[c]];
          const float q = r.q[row * L.cols + c];
          EXPECT_EQ(fake_quant(q, p, bits), q) << row << "," << c;
        }
    }
}

TEST(Gptq, MatchesUnblockedTextbookGptq) {
  // One column at a time, every update applied immediately, U from the
  // reference route: the blocked/lazy version must agree up to fp32
  // summation order (a handful of codes may flip at rounding boundaries).
  const Layer L = make_layer(32, 160, 400, 3, 9);
  const int64_t R = L.rows, C = L.cols, gs = 32;
  const int bits = 3;
  std::vector<double> u = L.h;
  double mean = 0;
  for (int64_t i = 0; i < C; ++i) mean += u[i * C + i] / double(C);
  for (int64_t i = 0; i < C; ++i) u[i * C + i] += 0.01 * mean;
  ASSERT_TRUE(inverse_cholesky_upper_reference(u.data(), C));
  std::vector<float> w = L.w;
  std::vector<QuantParams> p(static_cast<size_t>(R));
  double loss = 0;
  for (int64_t c = 0; c < C; ++c) {
    if (c % gs == 0)
      for (int64_t r = 0; r < R; ++r) {
        std::vector<float> seg(w.begin() + r * C + c, w.begin() + r * C + std::min(C, c + gs));
        p[r] = fit_minmax(seg, bits);
      }
    for (int64_t r = 0; r < R; ++r) {
      const float x = w[r * C + c], q = fake_quant(x, p[r], bits);
      const float err = (x - q) / float(u[c * C + c]);
      loss += double(err) * err / 2;
      w[r * C + c] = q;
      for (int64_t j = c + 1; j < C; ++j) w[r * C + j] -= err * float(u[c * C + j]);
    }
  }
  for (int bs : {128, 32, 48}) {
    GptqOptions o;
    o.bits = bits;
    o.group_size = int(gs);
    o.block_size = bs;
    const GptqResult res = run_gptq(L, o);
    // Equal codes, not equal floats: a group fit on weights that differ in
    // the last bit gets a scale that differs in the last bit.
    int same = 0;
    for (size_t i = 0; i < w.size(); ++i) same += std::fabs(res.q[i] - w[i]) < 1e-4f;
    EXPECT_GT(same, int(0.98 * double(w.size()))) << "block " << bs;
    EXPECT_NEAR(res.loss, loss, 0.02 * loss) << "block " << bs;
  }
  // A block that is not a multiple of the group is cut at group starts, so
  // 48 runs exactly the 32-wide schedule.
  GptqOptions o32, o48;
  o32.bits = o48.bits = bits;
  o32.group_size = o48.group_size = int(gs);
  o32.block_size = 32;
  o48.block_size = 48;
  EXPECT_EQ(run_gptq(L, o32).q, run_gptq(L, o48).q);
  // The reference inverse route gives essentially the same answer.
  GptqOptions oref = o32;
  oref.reference_inverse = true;
  EXPECT_NEAR(run_gptq(L, oref).loss, run_gptq(L, o32).loss, 1e-3 * loss);
}

TEST(Gptq, PartialGroups) {
  const Layer L = make_layer(16, 172, 300, 2, 10);
  GptqOptions o;
  o.bits = 4;
  o.group_size = 64;
  const GptqResult r = run_gptq(L, o);
  EXPECT_EQ(r.params.size(), size_t(16 * 3));
  EXPECT_EQ(r.group_bits.size(), 3u);
  EXPECT_EQ(r.g_idx.back(), 2);
  EXPECT_TRUE(all_finite(r.q));
  EXPECT_LT(output_error(L, r.q), rtn_error(L, 4, 64));

  const Layer S = make_layer(8, 64, 200, 1, 11);
  o.group_size = 128;
  const GptqResult s = run_gptq(S, o);
  EXPECT_EQ(s.params.size(), 8u);
  o.group_size = -1;
  EXPECT_EQ(run_gptq(S, o).q, s.q);  // one partial group == per row
}

TEST(Gptq, PerRowFitsOriginalRow) {
  // GPTQ fits a per-row quantizer once, before any error feedback.
  const Layer L = make_layer(8, 96, 200, 2, 12);
  GptqOptions o;
  o.bits = 3;
  o.group_size = -1;
  const GptqResult r = run_gptq(L, o);
  for (int64_t row = 0; row < L.rows; ++row) {
    const QuantParams p = fit_minmax({L.w.data() + row * L.cols, size_t(L.cols)}, 3);
    EXPECT_EQ(r.params[row].scale, p.scale);
    EXPECT_EQ(r.params[row].zero, p.zero);
  }
}

TEST(Gptq, DampFallbackRecoversIndefiniteHessian) {
  // Make channel 1 a copy of channel 0: v = (e0 - e1)/√2 is in the null
  // space of X, so H - α v vᵀ has the single eigenvalue -α. With α = 5% of
  // mean(diag), damp 0.01 still fails and 0.1 succeeds.
  Layer L = make_layer(16, 64, 256, 0, 13);
  const int64_t C = L.cols;
  for (int64_t t = 0; t < L.tokens; ++t) L.x[t * C + 1] = L.x[t * C];
  for (int64_t i = 0; i < C; ++i) {
    for (int64_t j = 0; j < C; ++j) {
      double s = 0;
      for (int64_t t = 0; t < L.tokens; ++t) s += double(L.x[t * C + i]) * L.x[t * C + j];
      L.h[i * C + j] = 2.0 * s / double(L.tokens);
    }
  }
  double mean = 0;
  for (int64_t i = 0; i < C; ++i) mean += L.h[i * C + i] / double(C);
  const double a = 0.05 * mean;
  L.h[0] -= a / 2, L.h[C + 1] -= a / 2, L.h[1] += a / 2, L.h[C] += a / 2;
  GptqOptions o;
  o.bits = 3;
  o.group_size = 32;
  const GptqResult r = run_gptq(L, o);
  EXPECT_EQ(r.damp_retries, 1);
  EXPECT_NEAR(r.damp_used, 0.1, 1e-12);
  EXPECT_TRUE(all_finite(r.q));
  EXPECT_TRUE(std::isfinite(r.loss));
  o.max_damp_retries = 0;
  EXPECT_THROW(run_gptq(L, o), Error);
}

TEST(Gptq, NonFiniteInputThrows) {
  Layer L = make_layer(4, 32, 64, 0, 14);
  GptqOptions o;
  o.group_size = 16;
  Layer bad_h = L;
  bad_h.h[5 * 32 + 7] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(run_gptq(bad_h, o), Error);
  Layer bad_w = L;
  bad_w.w[3] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(run_gptq(bad_w, o), Error);
  EXPECT_THROW(gptq_quantize(L.w, L.rows, L.cols + 1, L.h, o), Error);  // shape mismatch
}

TEST(Gptq, Deterministic) {
  const Layer L = make_layer(48, 192, 256, 3, 15);
  GptqOptions o;
  o.bits = 3;
  o.group_size = 64;
  o.act_order = true;
  const GptqResult a = run_gptq(L, o), b = run_gptq(L, o);
  ASSERT_EQ(a.q.size(), b.q.size());
  EXPECT_EQ(std::memcmp(a.q.data(), b.q.data(), a.q.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(QuantParams)), 0);
  EXPECT_EQ(a.loss, b.loss);
}

// q/k/v (and gate/up) share one Hessian: one factor for all of them must give
// exactly what building it per linear gives, including the dead-column fix,
// act-order and damp retries (all of which depend on H only).
TEST(Gptq, SharedFactorIsExact) {
  Layer L = make_layer(12, 80, 40, 1, 21);  // 40 tokens < 80 columns: H singular, damp 0 must retry
  for (int64_t i = 0; i < L.cols; ++i) L.h[7 * L.cols + i] = L.h[i * L.cols + 7] = 0.0;  // dead input 7
  const Layer other = make_layer(20, 80, 40, 1, 22);  // a second linear on the same input
  for (bool act : {false, true})
    for (double damp : {0.01, 0.0}) {
      GptqOptions o;
      o.bits = 3;
      o.group_size = 16;
      o.act_order = act;
      o.damp = damp;
      const GptqFactor f = gptq_factor(L.h, L.cols, o);
      EXPECT_EQ(f.dead_columns, 1);
      double diag_sum = 0;  // the reported mean counts the dead column as 0, not as the fix's 1
      for (int64_t c = 0; c < L.cols; ++c) diag_sum += L.h[c * L.cols + c];
      EXPECT_NEAR(f.hessian_diag_mean, diag_sum / double(L.cols), 1e-12 * diag_sum);
      if (damp == 0.0) {
        EXPECT_GT(f.damp_retries, 0);
      }
      for (const Layer* w : {static_cast<const Layer*>(&L), &other}) {
        const GptqResult a = gptq_quantize(w->w, w->rows, w->cols, L.h, o);
        const GptqResult b = gptq_quantize(w->w, w->rows, w->cols, f, o);
        EXPECT_EQ(a.q, b.q);
        EXPECT_EQ(a.loss, b.loss);
        EXPECT_EQ(a.perm, b.perm);
        EXPECT_EQ(a.damp_used, b.damp_used);
        EXPECT_EQ(a.damp_retries, b.damp_retries);
        EXPECT_EQ(a.dead_columns, b.dead_columns);
        ASSERT_EQ(a.params.size(), b.params.size());
        for (size_t i = 0; i < a.params.size(); ++i) {
          EXPECT_EQ(a.params[i].scale, b.params[i].scale);
          EXPECT_EQ(a.params[i].zero, b.params[i].zero);
        }
      }
    }
  // A factor made with other options, or for another width, is refused.
  GptqOptions o;
  const GptqFactor f = gptq_factor(L.h, L.cols, o);
  GptqOptions o2 = o;
  o2.damp = 0.1;
  EXPECT_THROW(gptq_quantize(L.w, L.rows, L.cols, f, o2), Error);
  o2 = o;
  o2.act_order = true;
  EXPECT_THROW(gptq_quantize(L.w, L.rows, L.cols, f, o2), Error);
  const Layer narrow = make_layer(4, 64, 80, 1, 23);
  EXPECT_THROW(gptq_quantize(narrow.w, narrow.rows, narrow.cols, f, o), Error);
}

// The factor from H's packed upper triangle (what the quantize pipeline's
// accumulators hold; no square copy of H) is the square route's, bit for bit:
// act-order, a dead column, damp retries included.
TEST(Gptq, PackedHessianFactorIsBitIdentical) {
  Layer L = make_layer(12, 80, 40, 1, 21);  // 40 tokens < 80 columns: H singular, damp 0 must retry
  for (int64_t i = 0; i < L.cols; ++i) L.h[7 * L.cols + i] = L.h[i * L.cols + 7] = 0.0;  // dead input 7
  const int64_t n = L.cols;
  const double scale = 0.5;  // the accumulator's 2/sequences
  std::vector<double> packed, diag(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    diag[size_t(i)] = L.h[size_t(i * n + i)];
    for (int64_t j = i; j < n; ++j) packed.push_back(L.h[size_t(i * n + j)] / scale);  // exact: a power of 2
  }
  const dist::SymmetricSlice whole{packed, 0, scale};
  for (bool act : {false, true})
    for (double damp : {0.01, 0.0}) {
      GptqOptions o;
      o.act_order = act;
      o.damp = damp;
      const GptqFactor a = gptq_factor(L.h, n, o), b = gptq_factor(whole, diag, n, o);
      EXPECT_EQ(a.u, b.u);
      EXPECT_EQ(a.u_diag, b.u_diag);
      EXPECT_EQ(a.perm, b.perm);
      EXPECT_EQ(a.dead, b.dead);
      EXPECT_EQ(a.damp_used, b.damp_used);
      EXPECT_EQ(a.damp_retries, b.damp_retries);
      if (damp == 0.0) {
        EXPECT_GT(b.damp_retries, 0);
      }
    }
  GptqOptions o;
  EXPECT_THROW(gptq_factor(dist::SymmetricSlice{std::span(packed).first(packed.size() - 1), 0, scale}, diag, n, o), Error);
  EXPECT_THROW(gptq_factor(dist::SymmetricSlice{packed, 1, scale}, diag, n, o), Error);
  packed[5] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(gptq_factor(dist::SymmetricSlice{packed, 0, scale}, diag, n, o), Error);
}

// The fp32 U is built a few rows at a time while the fp64 rows go back to the
// kernel (gptq.cc): checked against a closed form at a width of several
// steps. H = KMS matrix ρ^|i-j|: H⁻¹ is tridiagonal (1/(1-ρ²)) [1, 1+ρ², ..., 1+ρ², 1]
// on the diagonal, -ρ/(1-ρ²) beside it, so U = chol(H⁻¹, upper) is bidiagonal.
TEST(Gptq, WideFactorMatchesClosedForm) {
  const int64_t n = 1100;  // > 2^20 / n rows per conversion step: two steps
  const double rho = 0.6;
  std::vector<double> h(size_t(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) h[size_t(i * n + j)] = std::pow(rho, double(std::abs(i - j)));
  GptqOptions o;
  o.damp = 0;
  const GptqFactor f = gptq_factor(h, n, o);
  ASSERT_EQ(f.u.size(), size_t(n * n));
  const double c = 1.0 / (1.0 - rho * rho);
  auto u = [&](int64_t i, int64_t j) { return double(f.u[size_t(i * n + j)]); };
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (j != i && j != i + 1) {
        ASSERT_LE(std::fabs(u(i, j)), 1e-5) << i << "," << j;  // lower 0, upper bidiagonal
      }
    }
    EXPECT_FLOAT_EQ(float(f.u_diag[size_t(i)]), f.u[size_t(i * n + i)]) << i;
    const double d = (i > 0 ? u(i - 1, i) * u(i - 1, i) : 0.0) + u(i, i) * u(i, i);  // (UᵀU)_ii
    EXPECT_NEAR(d, (i == 0 || i == n - 1 ? 1.0 : 1.0 + rho * rho) * c, 1e-4 * c) << i;
    if (i + 1 < n) {
      EXPECT_NEAR(u(i, i) * u(i, i + 1), -rho * c, 1e-4 * c) << i;  // (UᵀU)_{i,i+1}
    }
  }
}

TEST(Gptq, DeadColumnsAreZero) {
  Layer L = make_layer(16, 64, 128, 1, 16);
  for (int64_t c : {5, 17})
    for (int64_t i = 0; i < L.cols; ++i) L.h[c * L.cols + i] = L.h[i * L.cols + c] = 0.0;
  GptqOptions o;
  o.bits = 4;
  o.group_size = 32;
  for (bool act : {false, true}) {
    o.act_order = act;
    const GptqResult r = run_gptq(L, o);
    EXPECT_EQ(r.dead_columns, 2);
    for (int64_t row = 0; row < L.rows; ++row) {
      EXPECT_NE(L.w[row * L.cols + 5], 0.f);
      EXPECT_EQ(r.q[row * L.cols + 5], 0.f);
      EXPECT_EQ(r.q[row * L.cols + 17], 0.f);
    }
  }
  // All columns dead (an all-zero Hessian): everything quantizes to 0.
  std::fill(L.h.begin(), L.h.end(), 0.0);
  o.act_order = false;
  const GptqResult z = run_gptq(L, o);
  EXPECT_EQ(z.dead_columns, 64);
  for (float q : z.q) EXPECT_EQ(q, 0.f);
}

TEST(Gptq, MixedGroupBits) {
  const Layer L = make_layer(32, 128, 256, 2, 17);
  GptqOptions o;
  o.group_size = 32;
  o.group_bits = {2, 3, 4, 3};
  const GptqResult r = run_gptq(L, o);
  EXPECT_EQ(r.group_bits, o.group_bits);
  for (int64_t row = 0; row < L.rows; ++row)
    for (int64_t g = 0; g < 4; ++g) {
      std::set<float> distinct(r.q.begin() + row * 128 + g * 32, r.q.begin() + row * 128 + g * 32 + 32);
      EXPECT_LE(distinct.size(), size_t(1) << o.group_bits[g]);
      for (float q : distinct) EXPECT_EQ(fake_quant(q, r.params[row * 4 + g], o.group_bits[g]), q);
    }
  o.group_bits = {2, 3, 4};
  EXPECT_THROW(run_gptq(L, o), Error);
  o.group_bits = {2, 3, 4, 9};
  EXPECT_THROW(run_gptq(L, o), Error);
}

TEST(Gptq, OneBitGroups) {
  const Layer L = make_layer(32, 128, 256, 2, 18);
  GptqOptions o;
  o.group_size = 32;
  o.group_bits = {1, 1, 1, 1};
  const GptqResult r = run_gptq(L, o);
  EXPECT_TRUE(all_finite(r.q));
  for (int64_t row = 0; row < L.rows; ++row)
    for (int64_t g = 0; g < 4; ++g) {
      const QuantParams& p = r.params[row * 4 + g];
      for (int64_t c = g * 32; c < g * 32 + 32; ++c) {
        const float q = r.q[row * 128 + c];
        EXPECT_TRUE(q == p.zero + p.scale || q == p.zero - p.scale || q == p.zero) << q;
      }
    }
  EXPECT_LT(output_error(L, r.q), rtn_error(L, 1, 32));
  o.group_bits = {1, 2, 1, 3};  // binary next to integer groups
  EXPECT_TRUE(all_finite(run_gptq(L, o).q));
}

TEST(Gptq, CustomFitterSeesGroups) {
  const Layer L = make_layer(8, 100, 128, 1, 19);
  GptqOptions o;
  o.bits = 3;
  o.group_size = 32;
  std::vector<int64_t> widths;
  o.fitter = [&](const float* w, int64_t rows, int64_t width, int64_t ld, std::span<const double> u_diag, int bits,
                 QuantParams* out) {
    widths.push_back(width);
    EXPECT_EQ(int64_t(u_diag.size()), width);
    for (double d : u_diag) EXPECT_GT(d, 0);
    for (int64_t r = 0; r < rows; ++r) out[r] = fit_minmax({w + r * ld, size_t(width)}, bits);
  };
  const GptqResult r = run_gptq(L, o);
  EXPECT_EQ(widths, (std::vector<int64_t>{32, 32, 32, 4}));
  o.fitter = nullptr;
  EXPECT_EQ(run_gptq(L, o).q, r.q);  // same as the built-in min-max
}
