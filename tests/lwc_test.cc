// SliM-LLM+'s mixed LWC quantizer (quant/lwc.h) and block training
// (quant/lwc_train.h): storable parameters, straight-through gradients against
// finite differences of a float64 surrogate (round and the fp16 rounding
// frozen at the evaluation point), AdamW's first step, and training that
// lowers the block loss.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "calib/dataset.h"
#include "quant/lwc.h"
#include "quant/lwc_train.h"
#include "test_util.h"
#include "tiny_model.h"

namespace slim {
namespace {

struct Fixture {
  int64_t rows = 3, cols = 40;
  int gs = 16;  // groups of 16, 16, 8 (a partial last group)
  std::vector<int> bits{2, 1, 3};
  std::vector<float> w;
  Fixture() {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.1f, 1.f);
    w.resize(size_t(rows * cols));
    for (auto& x : w) x = nd(rng);
  }
};

TEST(Lwc, ForwardIsFakeQuantWithStorableParameters) {
  Fixture f;
  LwcLinear q(f.w.data(), f.rows, f.cols, f.gs, f.bits);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-2.f, 5.f);
  for (auto& g : q.gamma()) g = u(rng);
  for (auto& b : q.beta()) b = u(rng);
  std::vector<float> wq(f.w.size());
  q.forward(wq.data());
  for (int64_t r = 0; r < f.rows; ++r)
    for (int64_t c = 0; c < f.cols; ++c) {
      const int64_t g = c / f.gs;
      const int b = f.bits[size_t(g)];
      const QuantParams& p = q.params()[size_t(r * 3 + g)];
      EXPECT_EQ(wq[size_t(r * f.cols + c)], fake_quant(f.w[size_t(r * f.cols + c)], p, b));
      if (b >= 2) {
        EXPECT_EQ(p.scale, f16_scale(p.scale));
        EXPECT_EQ(p.zero, std::nearbyint(p.zero));
        EXPECT_GE(p.zero, 0.f);
        EXPECT_LE(p.zero, float((1 << b) - 1));
      } else {
        EXPECT_EQ(p.scale, f16_value(p.scale));
        EXPECT_EQ(p.zero, f16_value(p.zero));
      }
    }
}

// Σ R ⊙ w' with round() replaced by x + (round(x0) - x0) and zero, the fp16
// rounding and the clamp decision frozen at (γ0, β0): the function whose exact
// derivative the straight-through estimator is.
double surrogate(const Fixture& f, const LwcLinear& at, const std::vector<double>& gamma,
                 const std::vector<double>& beta, const std::vector<float>& R, const std::vector<float>& gamma0,
                 const std::vector<float>& beta0) {
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  double s = 0;
  for (int64_t r = 0; r < f.rows; ++r)
    for (int64_t g = 0; g < 3; ++g) {
      const size_t i = size_t(r * 3 + g);
      const int b = f.bits[size_t(g)];
      const int64_t c0 = g * f.gs, c1 = std::min<int64_t>(f.cols, c0 + f.gs);
      const QuantParams& p0 = at.params()[i];
      double mn = 1e9, mx = -1e9, mean = 0;
      for (int64_t c = c0; c < c1; ++c) {
        const double w = f.w[size_t(r * f.cols + c)];
        mn = std::min(mn, w), mx = std::max(mx, w), mean += w;
      }
      mean /= double(c1 - c0);
      if (b == 1) {
        double base = 0;
        for (int64_t c = c0; c < c1; ++c) base += std::fabs(f.w[size_t(r * f.cols + c)] - p0.zero);
        base /= double(c1 - c0);
        const double scale = base * (sig(gamma[i]) + 0.5);
        for (int64_t c = c0; c < c1; ++c) {
          const double w = f.w[size_t(r * f.cols + c)];
          s += R[size_t(r * f.cols + c)] * ((w >= p0.zero ? scale : -scale) + p0.zero);
        }
        continue;
      }
      const double maxq = (1 << b) - 1;
      const double scale = (sig(gamma[i]) * mx - sig(beta[i]) * mn) / maxq;
      const double scale0 = (1 / (1 + std::exp(-double(gamma0[i]))) * mx - 1 / (1 + std::exp(-double(beta0[i]))) * mn) / maxq;
      (void)mean;
      for (int64_t c = c0; c < c1; ++c) {
        const double w = f.w[size_t(r * f.cols + c)];
        const double x0 = w / p0.scale;
        const double qu0 = std::nearbyint(x0) + p0.zero;
        double q;
        if (qu0 < 0 || qu0 > maxq)
          q = std::clamp(qu0, 0.0, maxq);  // clamped: constant
        else
          q = w / scale + (std::nearbyint(x0) - w / scale0) + p0.zero;  // round_ste around the point
        s += R[size_t(r * f.cols + c)] * scale * (q - p0.zero);
      }
    }
  return s;
}

TEST(Lwc, StraightThroughGradientMatchesFiniteDifferencesOfTheSurrogate) {
  Fixture f;
  LwcLinear q(f.w.data(), f.rows, f.cols, f.gs, f.bits);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(0.f, 3.f);
  for (auto& g : q.gamma()) g = u(rng);
  for (auto& b : q.beta()) b = u(rng);
  std::normal_distribution<float> nd;
  std::vector<float> R(f.w.size()), wq(f.w.size());
  for (auto& x : R) x = nd(rng);
  q.forward(wq.data());
  std::vector<float> dg(9, 0.f), db(9, 0.f);
  q.backward(R.data(), dg.data(), db.data());
  std::vector<float> g0(q.gamma().begin(), q.gamma().end()), b0(q.beta().begin(), q.beta().end());
  std::vector<double> gd(g0.begin(), g0.end()), bd(b0.begin(), b0.end());
  double max_ref = 0;
  for (int which = 0; which < 2; ++which)
    for (size_t i = 0; i < 9; ++i) {
      auto& v = which == 0 ? gd : bd;
      const double x0 = v[i], h = 1e-6;
      v[i] = x0 + h;
      const double fp = surrogate(f, q, gd, bd, R, g0, b0);
      v[i] = x0 - h;
      const double fm = surrogate(f, q, gd, bd, R, g0, b0);
      v[i] = x0;
      const double fd = (fp - fm) / (2 * h);
      const double an = which == 0 ? dg[i] : db[i];
      // the fp16 scale differs from the exact one by up to 2^-11 relative
      EXPECT_NEAR(an, fd, 2e-3 * std::max(1.0, std::fabs(fd))) << (which ? "beta " : "gamma ") << i;
      max_ref = std::max(max_ref, std::fabs(fd));
      if (which == 1 && f.bits[i % 3] == 1) {
        EXPECT_EQ(db[i], 0.f);
      }  // β is unused by 1-bit groups
    }
  EXPECT_GT(max_ref, 1e-3);
}

// Parameters whose range lies inside the group's min/max (any LWC result)
// are reproduced by init_from_params: the round trip of a trained state.
TEST(Lwc, InitFromParamsReproducesTheRanges) {
  Fixture f;
  LwcLinear a(f.w.data(), f.rows, f.cols, f.gs, f.bits), b(f.w.data(), f.rows, f.cols, f.gs, f.bits);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 4.f);
  for (auto& g : a.gamma()) g = u(rng);
  for (auto& x : a.beta()) x = u(rng);
  std::vector<float> wa(f.w.size()), wb(f.w.size());
  a.forward(wa.data());
  b.forward(wb.data());
  EXPECT_NE(wa, wb);
  b.init_from_params(a.params());
  b.forward(wb.data());
  int same = 0;
  for (size_t i = 0; i < a.params().size(); ++i) {
    const QuantParams &pa = a.params()[i], &pb = b.params()[i];
    same += pa.zero == pb.zero && std::fabs(pa.scale - pb.scale) <= 2e-3f * pa.scale;
  }
  EXPECT_GE(same, int(a.params().size()) - 1);  // an fp16 tie may move one zero point
}

TEST(Lwc, AdamWFirstStepMovesByTheLearningRate) {
  AdamW opt(2, 0.1f, 0.f);
  std::vector<float> p{1.f, -1.f}, g{0.5f, -2.f};
  opt.step(p, g);
  EXPECT_NEAR(p[0], 0.9f, 1e-6);
  EXPECT_NEAR(p[1], -0.9f, 1e-6);
}

TEST(LwcTrain, RankWindowsAreEachStepsShares) {
  // 8 windows, steps of 3, 2 ranks: steps {0 1 2} {3 4 5} {6 7}, each split as dist::share_of does.
  std::vector<int64_t> s0, s1;
  EXPECT_EQ(lwc_rank_windows(8, 3, 0, 2, &s0), (std::vector<int64_t>{0, 1, 3, 4, 6}));
  EXPECT_EQ(s0, (std::vector<int64_t>{0, 2, 4, 5}));
  EXPECT_EQ(lwc_rank_windows(8, 3, 1, 2, &s1), (std::vector<int64_t>{2, 5, 7}));
  EXPECT_EQ(s1, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(lwc_rank_windows(5, 2, 0, 1, nullptr), (std::vector<int64_t>{0, 1, 2, 3, 4}));  // one rank: window order
  test::expect_error([] { lwc_rank_windows(8, 1, 0, 2, nullptr); }, {"--lwc-batch must be at least 2"});
}

TEST(LwcTrain, TrainingLowersTheBlockLoss) {
  test::TinySpec spec;
  spec.hidden = 32;
  Model m = test::make_tiny_model(spec);
  const CalibWindows calib = sample_windows(test::random_tokens(2000, spec.vocab, 9), 4, 32, 0);
  Bitmap map;
  for (int l = 0; l < spec.layers; ++l)
    for (auto& r : m.weights.blocks[size_t(l)].linears()) {
      BitmapLayer bl;
      bl.block = l;
      bl.name = r.name;
      bl.rows = r.linear->out();
      bl.cols = r.linear->in();
      bl.group_size = 8;
      bl.target_bits = 2;
      for (int64_t g = 0; g < n_groups(bl.cols, 8); ++g) bl.bits.push_back(1 + int(g % 3));
      map.layers.push_back(bl);
    }
  // slim+ through the streaming driver, with this bit map instead of SliM's.
  QuantizeOptions o;
  o.method = "slim+";
  o.bits = 2;
  o.group_size = 8;
  o.bitmap = &map;
  o.lwc_epochs = 10;
  o.lwc_lr = 0.1f;  // fast enough to see in 40 steps
  o.progress = false;
  std::vector<LinearQuantParams> params;
  o.params_out = &params;
  const auto rep = quantize_model(m, &calib, o)["lwc"];
  ASSERT_EQ(rep["blocks"].size(), size_t(spec.layers));
  for (const auto& b : rep["blocks"]) {
    const auto& loss = b["loss"];
    ASSERT_EQ(loss.size(), 10u);
    EXPECT_LT(loss.back().get<double>(), 0.9 * loss.front().get<double>());
  }
  // The model holds exactly the learned parameters' fake quantization of
  // the original weights (the packed tests check the same through a file).
  ASSERT_EQ(params.size(), size_t(7 * spec.layers));
  const Model orig = test::make_tiny_model(spec);
  const Linear& L = m.weights.blocks[1].w_up;
  const Linear& W = orig.weights.blocks[1].w_up;
  const LinearQuantParams& p = params[7 + 5];
  ASSERT_EQ(p.name, "up_proj");
  const int64_t G = n_groups(L.in(), 8);
  ASSERT_EQ(p.params.size(), size_t(L.out() * G));
  for (int64_t r = 0; r < L.out(); ++r)
    for (int64_t c = 0; c < L.in(); ++c)
      ASSERT_EQ(L.w.data()[r * L.in() + c],
                fake_quant(W.w.data()[r * W.in() + c], p.params[size_t(r * G + c / 8)], p.group_bits[size_t(c / 8)]));
}

}  // namespace
}  // namespace slim
