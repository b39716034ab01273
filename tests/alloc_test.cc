// Error-driven group bit allocation (quant/alloc.h), the Lloyd 1-bit fit and
// the widened SQC grid (quant/sqc.h), and slim-bitmap version 2.
#include <gtest/gtest.h>
#include <omp.h>

#include <array>
#include <cmath>
#include <random>

#include "calib/hessian.h"
#include "quant/alloc.h"
#include "quant/bitmap.h"
#include "quant/gptq.h"
#include "quant/salience.h"
#include "quant/sqc.h"
#include "test_util.h"
#include "util/error.h"
#include "util/files.h"

using namespace slim;

namespace {

// A random table with decreasing, convex curves over N-1..N+2 (N = 2).
GroupErrors random_table(int64_t rows, int64_t cols, int gs, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.1, 10.0);
  GroupErrors ge;
  ge.rows = rows;
  ge.cols = cols;
  ge.group_size = gs;
  ge.bits_lo = 1;
  ge.n_bits = 4;
  const int64_t G = n_groups(cols, gs);
  ge.movable.assign(size_t(G), true);
  if (cols % gs) ge.movable.back() = false;
  for (int64_t g = 0; g < G; ++g) {
    const double e = u(rng);  // halving per bit or faster: convex and decreasing
    for (int k = 0; k < 4; ++k) ge.err.push_back(e * std::pow(0.25 + 0.2 * (k == 0), k));
  }
  return ge;
}

int64_t deviation(const GroupErrors& ge, const std::vector<int>& bits, int N) {
  const int64_t gw = group_width(ge.cols, ge.group_size);
  int64_t d = 0;
  for (size_t g = 0; g < bits.size(); ++g) d += ge.rows * std::min(gw, ge.cols - int64_t(g) * gw) * (bits[g] - N);
  return d;
}

double cost(std::span<const GroupErrors> t, const std::vector<std::vector<int>>& bits) {
  double c = 0;
  for (size_t l = 0; l < t.size(); ++l)
    for (size_t g = 0; g < bits[l].size(); ++g) c += t[l].at(int64_t(g), bits[l][g]);
  return c;
}

// Correlated activations, columns scaled per channel; W ~ N(0, 0.05²).
struct Gen {
  int64_t rows, cols;
  std::vector<float> w, x;
  std::vector<double> h;
};
Gen make_gen(int64_t rows, int64_t cols, const std::vector<float>& chan, uint32_t seed) {
  Gen L{rows, cols, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int64_t i = 0; i < rows * cols; ++i) L.w.push_back(0.05f * nd(rng));
  const int64_t tokens = 4 * cols;
  for (int64_t t = 0; t < tokens; ++t) {
    const float shared = nd(rng);
    for (int64_t c = 0; c < cols; ++c) L.x.push_back((nd(rng) + 0.3f * shared) * chan[size_t(c)]);
  }
  HessianAccumulator acc(cols);
  acc.add(L.x.data(), tokens);
  L.h = acc.hessian();
  return L;
}
double out_err(const Gen& L, const std::vector<float>& q) {
  double e = 0;  // Σ_rows (w-q) H (w-q)ᵀ
  for (int64_t r = 0; r < L.rows; ++r)
    for (int64_t i = 0; i < L.cols; ++i) {
      const double di = L.w[size_t(r * L.cols + i)] - q[size_t(r * L.cols + i)];
      for (int64_t j = 0; j < L.cols; ++j) e += di * L.h[size_t(i * L.cols + j)] * (L.w[size_t(r * L.cols + j)] - q[size_t(r * L.cols + j)]);
    }
  return e;
}

}  // namespace

TEST(Alloc, LayerScopeAveragesExactlyN) {
  std::mt19937 rng(7);
  for (int max_up : {1, 2})
    for (int64_t cols : {16, 64, 172, 200}) {
      std::vector<GroupErrors> t{random_table(32, cols, 16, rng), random_table(64, cols, 16, rng)};
      AllocOptions o;
      o.bits = 2;
      o.max_up = max_up;
      const auto bits = allocate_group_bits(t, o);
      for (size_t l = 0; l < t.size(); ++l) {
        EXPECT_EQ(deviation(t[l], bits[l], 2), 0) << cols << " " << max_up;
        for (size_t g = 0; g < bits[l].size(); ++g) {
          EXPECT_GE(bits[l][g], 1);
          EXPECT_LE(bits[l][g], 2 + max_up);
          if (!t[l].movable[g]) {
            EXPECT_EQ(bits[l][g], 2);
          }
        }
      }
    }
}

TEST(Alloc, LayerScopeMatchesBruteForceOnConvexCurves) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    const GroupErrors ge = random_table(8, 5 * 16, 16, rng);
    AllocOptions o;
    o.bits = 2;
    o.max_up = 2;
    const auto got = allocate_group_bits({&ge, 1}, o)[0];
    double best = 1e300;
    for (int code = 0; code < 4 * 4 * 4 * 4 * 4; ++code) {
      std::vector<int> b;
      for (int g = 0, c = code; g < 5; ++g, c /= 4) b.push_back(1 + c % 4);
      if (deviation(ge, b, 2) != 0) continue;
      double c = 0;
      for (int g = 0; g < 5; ++g) c += ge.at(g, b[size_t(g)]);
      best = std::min(best, c);
    }
    double c = 0;
    for (int g = 0; g < 5; ++g) c += ge.at(g, got[size_t(g)]);
    EXPECT_NEAR(c, best, 1e-9 * best) << trial;
  }
}

TEST(Alloc, ModelScopeKeepsTheTotalExactAndNeverLosesToLayerScope) {
  std::mt19937 rng(3);
  std::vector<GroupErrors> t;
  for (int l = 0; l < 5; ++l)
    for (int64_t rows : {64, 32, 172}) t.push_back(random_table(rows, rows == 64 ? 172 : 64, 16, rng));
  for (int max_up : {1, 2}) {
    AllocOptions o;
    o.bits = 2;
    o.max_up = max_up;
    const auto layer = allocate_group_bits(t, o);
    o.model_scope = true;
    const auto model = allocate_group_bits(t, o);
    int64_t dev = 0;
    bool some_layer_off = false;
    for (size_t l = 0; l < t.size(); ++l) {
      dev += deviation(t[l], model[l], 2);
      some_layer_off |= deviation(t[l], model[l], 2) != 0;
    }
    EXPECT_EQ(dev, 0);
    EXPECT_TRUE(some_layer_off);  // random sensitivities: bits do move between linears
    EXPECT_LE(cost(t, model), cost(t, layer) * (1 + 1e-12));
    EXPECT_EQ(model, allocate_group_bits(t, o));  // deterministic
  }
}

TEST(Alloc, RejectsBadInput) {
  std::mt19937 rng(1);
  std::vector<GroupErrors> t{random_table(8, 64, 16, rng)};
  AllocOptions o;
  o.max_up = 3;
  EXPECT_THROW(allocate_group_bits(t, o), Error);
  o.max_up = 2;
  o.bits = 3;  // table covers 1..4, needs 2..5
  EXPECT_THROW(allocate_group_bits(t, o), Error);
  EXPECT_THROW(parse_alloc_criterion("mse"), Error);
  std::vector<float> w(64);
  std::vector<double> h(64 * 64), u(7);
  EXPECT_THROW(group_errors(w, 1, 64, h, u, 16, 1, 3, AllocCriterion::obs), Error);
}

// The blocked tables (one GEMM per group and block of rows covering every
// width) against the definition, row by row: Σ_r e_r H_gg e_rᵀ and
// Σ e²/U_cc². Only the summation order differs (GEMM blocking, then blocks of
// 64 rows added in order), so relative 1e-12; shapes with a partial row block,
// a short last group and a dead column (300x264 takes the parallel path). The
// tables must not depend on the thread count (bit-identical).
TEST(Alloc, GroupErrorsMatchTheDefinition) {
  for (auto [rows, cols, gs] : {std::array<int64_t, 3>{300, 264, 64}, {64, 48, 16}, {7, 40, 40}, {5, 24, 32}}) {
    std::vector<float> chan(size_t(cols), 1.f);
    chan[3] = 0.f;  // dead column: H row and column exactly 0
    const Gen L = make_gen(rows, cols, chan, uint32_t(rows + cols));
    ASSERT_EQ(L.h[size_t(3 * cols + 3)], 0.0);
    std::vector<double> u(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) u[size_t(c)] = 0.5 + 0.01 * double(c);
    const int64_t G = n_groups(cols, int(gs));
    for (auto crit : {AllocCriterion::hessian, AllocCriterion::obs}) {
      const GroupErrors ge = group_errors(L.w, rows, cols, L.h, u, int(gs), 1, 4, crit);
      ASSERT_EQ(int64_t(ge.err.size()), G * 4);
      for (int64_t g = 0; g < G; ++g) {
        const int64_t c0 = g * gs, wd = std::min(gs, cols - c0);
        for (int b = 1; b <= 4; ++b) {
          double want = 0;
          for (int64_t r = 0; r < rows; ++r) {
            std::vector<float> seg(static_cast<size_t>(wd));
            for (int64_t c = 0; c < wd; ++c) seg[size_t(c)] = c0 + c == 3 ? 0.f : L.w[size_t(r * cols + c0 + c)];
            const QuantParams p = fit_minmax(seg, b);
            std::vector<double> e(static_cast<size_t>(wd));
            for (int64_t c = 0; c < wd; ++c) e[size_t(c)] = double(seg[size_t(c)]) - fake_quant(seg[size_t(c)], p, b);
            for (int64_t i = 0; i < wd; ++i) {
              if (crit == AllocCriterion::obs) want += e[size_t(i)] * e[size_t(i)] / (u[size_t(c0 + i)] * u[size_t(c0 + i)]);
              else
                for (int64_t j = 0; j < wd; ++j)
                  want += e[size_t(i)] * L.h[size_t((c0 + i) * cols + c0 + j)] * e[size_t(j)];
            }
          }
          EXPECT_NEAR(ge.at(g, b), want, 1e-12 * std::fabs(want)) << rows << "x" << cols << " g" << g << " b" << b;
        }
      }
      const int saved = omp_get_max_threads();
      omp_set_num_threads(1);
      const GroupErrors one = group_errors(L.w, rows, cols, L.h, u, int(gs), 1, 4, crit);
      omp_set_num_threads(3);
      const GroupErrors three = group_errors(L.w, rows, cols, L.h, u, int(gs), 1, 4, crit);
      omp_set_num_threads(saved);
      EXPECT_EQ(one.err, three.err);
      // From the diagonal blocks of the packed upper triangle (what quantize
      // keeps instead of a square H): the same tables, bit for bit.
      std::vector<double> packed;
      for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = i; j < cols; ++j) packed.push_back(2.0 * L.h[size_t(i * cols + j)]);  // exact: scale 0.5
      const HessianBlocks hb = hessian_blocks(dist::SymmetricSlice{packed, 0, 0.5}, cols, int(gs));
      EXPECT_EQ(group_errors(L.w, rows, cols, hb, u, int(gs), 1, 4, crit).err, ge.err) << rows << "x" << cols;
      EXPECT_THROW(group_errors(L.w, rows, cols, hb, u, int(gs) / 2, 1, 4, crit), Error);  // blocks of another group size
    }
  }
}

// Two near-empty groups, one group with outlier channels: the Hessian
// criterion with max_up 2 gives the outlier group 4 bits, paid by two 1-bit
// groups (k = 2, k_up = 1), and GPTQ's output error drops against uniform.
TEST(Alloc, HessianCriterionHelpsOnOutlierGroups) {
  const int64_t rows = 32, gs = 16, cols = 4 * gs;
  std::vector<float> chan(size_t(cols), 1.f);
  for (int64_t c = 0; c < 2 * gs; ++c) chan[size_t(c)] = 0.05f;
  for (int64_t c : {2 * gs + 1, 2 * gs + 7, 2 * gs + 12}) chan[size_t(c)] = 20.f;
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    const Gen L = make_gen(rows, cols, chan, seed);
    const SalienceResult s = compute_salience(L.w, rows, cols, L.h, {0.01, int(gs)});
    std::vector<std::vector<int>> bits;
    for (auto crit : {AllocCriterion::hessian, AllocCriterion::obs}) {
      const GroupErrors ge = group_errors(L.w, rows, cols, L.h, s.u_diag, int(gs), 1, 4, crit);
      EXPECT_EQ(ge.err, group_errors(L.w, rows, cols, L.h, s.u_diag, int(gs), 1, 4, crit).err);  // deterministic
      AllocOptions o;
      o.bits = 2;
      o.max_up = 2;
      bits.push_back(allocate_group_bits({&ge, 1}, o)[0]);
    }
    EXPECT_EQ(bits[0], (std::vector<int>{1, 1, 4, 2})) << seed;
    GptqOptions g;
    g.bits = 2;
    g.group_size = int(gs);
    const double uniform = out_err(L, gptq_quantize(L.w, rows, cols, L.h, g).q);
    g.group_bits = bits[0];
    const double mixed = out_err(L, gptq_quantize(L.w, rows, cols, L.h, g).q);
    EXPECT_LT(mixed, 0.5 * uniform) << seed;
  }
}

TEST(Sqc, LloydBinaryFitNeverWorseThanMean) {
  std::mt19937 rng(5);
  std::gamma_distribution<float> gd(0.5f, 1.f);
  int strictly = 0;
  for (int t = 0; t < 200; ++t) {
    std::vector<float> w(16);
    for (auto& v : w) v = (rng() & 1 ? 1.f : -0.3f) * gd(rng);
    auto sse = [&](const QuantParams& p) {
      double e = 0;
      for (float v : w) e += std::pow(double(fake_quant(v, p, 1)) - v, 2);
      return e;
    };
    const double m = sse(fit_minmax(w, 1)), l = sse(fit_binary_lloyd(w, 4));
    EXPECT_LE(l, m * (1 + 1e-3) + 1e-12) << t;  // fp16 storage rounding aside
    strictly += l < 0.99 * m;
  }
  EXPECT_GT(strictly, 100);
  const std::vector<float> flat(8, 0.25f);
  const QuantParams p = fit_binary_lloyd(flat, 4);
  EXPECT_EQ(fake_quant(0.25f, p, 1), 0.25f);  // constant segment stays exact
}

TEST(Sqc, WidenedGrid) {
  const auto g = sqc_grid(0.5);
  const auto ref = sqc_grid();
  EXPECT_EQ(g[0], 1.f);
  for (int i = 1; i <= 50; ++i) EXPECT_EQ(g[size_t(i)], ref[size_t(i)]);  // expansion half unchanged
  EXPECT_FLOAT_EQ(g[100], 0.5f);
  EXPECT_FLOAT_EQ(g[51], 0.99f);
  const auto r9 = sqc_grid(0.9);
  for (size_t i = 0; i < 101; ++i) EXPECT_EQ(r9[i], ref[i]);
  EXPECT_THROW(sqc_grid(1.0), Error);
  EXPECT_THROW(sqc_grid(0.0), Error);
  // The wider grid is coarser near 1 (steps of 0.01, not 0.002), so it is not
  // a superset of the reference grid; it never loses to p = 1 (min-max), and
  // on heavy-tailed rows, where clipping by more than 10% pays, it wins.
  std::mt19937 rng(9);
  std::student_t_distribution<float> td(2.f);
  const std::array<float, 1> one{1.f};
  int wins = 0;
  for (int t = 0; t < 100; ++t) {
    std::vector<float> w(16);
    for (auto& v : w) v = td(rng);
    const QuantParams a = sqc_fit_row(w, {}, 2), b = sqc_fit_row(w, {}, 2, g), c = sqc_fit_row(w, {}, 2, one);
    EXPECT_LE(sqc_row_objective(w, {}, b, 2), sqc_row_objective(w, {}, c, 2));
    wins += sqc_row_objective(w, {}, b, 2) < sqc_row_objective(w, {}, a, 2);
  }
  EXPECT_GT(wins, 50);
}

TEST(Bitmap, Version2ModelScopeRoundTripAndChecks) {
  Bitmap m;
  BitmapLayer a;
  a.name = "q_proj";
  a.rows = 64;
  a.cols = 64;
  a.group_size = 16;
  a.target_bits = 2;
  a.bits = {1, 1, 4, 2};
  a.k = 2;
  a.k_up = 1;
  a.method = "sba-hessian";
  a.scope = "layer";
  m.layers.push_back(a);
  test::TempDir dir;
  save_bitmap(dir.file("v2.json"), m);
  EXPECT_NE(read_file(dir.file("v2.json")).find("\"version\": 2"), std::string::npos);
  Bitmap back = load_bitmap(dir.file("v2.json"));
  ASSERT_EQ(back.layers.size(), 1u);
  EXPECT_EQ(back.layers[0].bits, a.bits);
  EXPECT_EQ(back.layers[0].up_count(), 1);
  // Model scope: layers off N individually, exact together (rows 64 and 32: 1 step of q = 2 of k).
  BitmapLayer q = a, k = a;
  q.bits = {3, 2, 2, 2};
  q.k = 0;
  q.k_up = 1;
  q.scope = "model";
  k.name = "k_proj";
  k.rows = 32;
  k.bits = {1, 1, 2, 2};
  k.k = 2;
  k.k_up = 0;
  k.scope = "model";
  m.layers = {q, k};
  save_bitmap(dir.file("model.json"), m);
  EXPECT_EQ(load_bitmap(dir.file("model.json")).layers[1].bits, k.bits);
  m.layers[1].bits = {1, 2, 2, 2};
  m.layers[1].k = 1;
  EXPECT_THROW(save_bitmap(dir.file("bad.json"), m), Error);  // model total off by 512 bits
  // A KL map still writes version 1.
  BitmapLayer v1 = a;
  v1.bits = {1, 2, 3, 2};
  v1.k = 1;
  v1.k_up = -1;
  v1.method = "sba-kl";
  m.layers = {v1};
  EXPECT_NE(bitmap_to_json(m).find("\"version\": 1"), std::string::npos);
  m.layers[0].bits = {1, 1, 4, 2};  // a 4-bit group needs an error method
  m.layers[0].k = 2;
  m.layers[0].k_up = 1;
  EXPECT_THROW(bitmap_to_json(m), Error);
}
