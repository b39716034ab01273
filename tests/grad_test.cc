// The block backward pass (src/grad) against central finite differences of a
// float64 scalar reference: each op alone, then the whole block, both RoPE
// layouts, with and without q/k/v biases; and gradients bit-identical for 1
// and 3 threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "grad/block_grad.h"
#include "model/forward.h"
#include "tiny_model.h"

namespace slim {
namespace {

using Vec = std::vector<double>;

Vec to_d(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }
Vec to_d(const Tensor& t) { return Vec(t.data(), t.data() + t.numel()); }
std::vector<float> rand_f(std::mt19937& rng, size_t n, float s = 1.f) {
  std::normal_distribution<float> nd(0.f, s);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// ---- float64 scalar reference ops ----
Vec ref_rmsnorm(const Vec& x, const Vec& w, int T, int n, double eps) {
  Vec y(x.size());
  for (int t = 0; t < T; ++t) {
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += x[t * n + i] * x[t * n + i];
    const double r = 1.0 / std::sqrt(ss / n + eps);
    for (int i = 0; i < n; ++i) y[t * n + i] = x[t * n + i] * r * w[i];
  }
  return y;
}
Vec ref_linear(const Vec& x, const Vec& W, const Vec* b, int T, int in, int out) {
  Vec y(size_t(T) * out);
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < out; ++o) {
      double s = b ? (*b)[o] : 0.0;
      for (int i = 0; i < in; ++i) s += x[t * in + i] * W[o * in + i];
      y[t * out + o] = s;
    }
  return y;
}
Vec ref_rope(Vec x, int T, int heads, int hd, PosKind pos, double theta) {
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double f = t * std::pow(theta, -2.0 * i / hd);
        const int a = pos == PosKind::RopeInterleaved ? h * hd + 2 * i : h * hd + i;
        const int b = pos == PosKind::RopeInterleaved ? a + 1 : a + hd / 2;
        double& xa = x[t * heads * hd + a];
        double& xb = x[t * heads * hd + b];
        const double x0 = xa, x1 = xb;
        xa = x0 * std::cos(f) - x1 * std::sin(f);
        xb = x0 * std::sin(f) + x1 * std::cos(f);
      }
  return x;
}
Vec ref_attention(const ModelConfig& c, const Vec& q, const Vec& k, const Vec& v, int T) {
  const int hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim(), group = c.n_heads / c.n_kv_heads;
  Vec out(size_t(T) * qd, 0.0);
  for (int h = 0; h < c.n_heads; ++h) {
    const int g = h / group;
    for (int i = 0; i < T; ++i) {
      Vec s(size_t(i) + 1);
      double mx = -1e300, sum = 0;
      for (int j = 0; j <= i; ++j) {
        double dot = 0;
        for (int e = 0; e < hd; ++e) dot += q[i * qd + h * hd + e] * k[j * kvd + g * hd + e];
        s[j] = dot / std::sqrt(double(hd));
        mx = std::max(mx, s[j]);
      }
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int j = 0; j <= i; ++j)
        for (int e = 0; e < hd; ++e) out[i * qd + h * hd + e] += s[j] / sum * v[j * kvd + g * hd + e];
    }
  }
  return out;
}
Vec ref_swiglu(const Vec& g, const Vec& u) {
  Vec h(g.size());
  for (size_t i = 0; i < g.size(); ++i) h[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
  return h;
}

// Loss = Σ out ⊙ R, so dL/dout = R.
double dotv(const Vec& a, const Vec& r) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * r[i];
  return s;
}

// Central differences of f with respect to every entry of *x, against `analytic`.
void expect_fd(const std::function<double()>& f, Vec* x, const std::vector<float>& analytic, const char* what,
               double tol = 2e-3) {
  ASSERT_EQ(x->size(), analytic.size()) << what;
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < x->size(); ++i) {
    const double x0 = (*x)[i], h = 1e-5 * std::max(1.0, std::fabs(x0));
    (*x)[i] = x0 + h;
    const double fp = f();
    (*x)[i] = x0 - h;
    const double fm = f();
    (*x)[i] = x0;
    const double fd = (fp - fm) / (2 * h);
    max_err = std::max(max_err, std::fabs(fd - analytic[i]));
    max_ref = std::max(max_ref, std::fabs(fd));
  }
  EXPECT_GT(max_ref, 1e-6) << what << ": the gradient is zero everywhere, the test would be vacuous";
  EXPECT_LE(max_err, tol * std::max(1.0, max_ref)) << what << ": max |fd - analytic| " << max_err << " (max |fd| "
                                                   << max_ref << ")";
}

TEST(GradOps, RmsnormMatchesFiniteDifferences) {
  std::mt19937 rng(3);
  const int T = 4, n = 12;
  auto x = rand_f(rng, T * n), w = rand_f(rng, n), R = rand_f(rng, T * n);
  std::vector<float> y(T * n), rstd(T), dx(T * n, 0.f), dw(n, 0.f);
  grad::rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), T, n, 1e-5f);
  grad::rmsnorm_backward(R.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data(), T, n);
  Vec xd = to_d(x), wd = to_d(w), Rd = to_d(R);
  auto f = [&] { return dotv(ref_rmsnorm(xd, wd, T, n, 1e-5), Rd); };
  expect_fd(f, &xd, dx, "rmsnorm dx");
  expect_fd(f, &wd, dw, "rmsnorm dw");
}

TEST(GradOps, LinearMatchesFiniteDifferences) {
  std::mt19937 rng(4);
  const int T = 5, in = 7, out = 6;
  auto x = rand_f(rng, T * in), W = rand_f(rng, out * in), b = rand_f(rng, out), R = rand_f(rng, T * out);
  std::vector<float> dx(T * in, 0.f), dW(out * in, 0.f), db(out, 0.f);
  grad::linear_backward(R.data(), x.data(), W.data(), dx.data(), dW.data(), db.data(), T, in, out);
  Vec xd = to_d(x), Wd = to_d(W), bd = to_d(b), Rd = to_d(R);
  auto f = [&] { return dotv(ref_linear(xd, Wd, &bd, T, in, out), Rd); };
  expect_fd(f, &xd, dx, "linear dx");
  expect_fd(f, &Wd, dW, "linear dW");
  expect_fd(f, &bd, db, "linear db");
}

TEST(GradOps, RopeMatchesFiniteDifferencesBothLayouts) {
  for (PosKind pos : {PosKind::RopeInterleaved, PosKind::RopeHalves}) {
    ModelConfig c;
    c.head_dim = 8;
    c.rope_theta = 10000.f;
    const int T = 5, heads = 2, n = heads * c.head_dim;
    RopeTable tab;
    tab.build(c, T);
    std::mt19937 rng(5);
    auto x = rand_f(rng, T * n), R = rand_f(rng, T * n);
    auto dx = R;
    grad::rope_backward(dx.data(), T, heads, c.head_dim, pos, tab);
    Vec xd = to_d(x), Rd = to_d(R);
    auto f = [&] { return dotv(ref_rope(xd, T, heads, c.head_dim, pos, c.rope_theta), Rd); };
    expect_fd(f, &xd, dx, pos == PosKind::RopeHalves ? "rope halves" : "rope interleaved");
    // the forward agrees with the reference too
    auto y = x;
    grad::rope_forward(y.data(), T, heads, c.head_dim, pos, tab);
    Vec yr = ref_rope(to_d(x), T, heads, c.head_dim, pos, c.rope_theta);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], yr[i], 1e-5);
  }
}

TEST(GradOps, GqaAttentionMatchesFiniteDifferences) {
  ModelConfig c;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  const int T = 6;
  std::mt19937 rng(6);
  auto q = rand_f(rng, T * c.q_dim()), k = rand_f(rng, T * c.kv_dim()), v = rand_f(rng, T * c.kv_dim());
  auto R = rand_f(rng, T * c.q_dim());
  std::vector<float> out(T * c.q_dim()), p(size_t(c.n_heads) * T * T), scratch;
  grad::attention_forward(c, q.data(), k.data(), v.data(), out.data(), p.data(), T);
  Vec ref = ref_attention(c, to_d(q), to_d(k), to_d(v), T);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-5);
  std::vector<float> dq(q.size(), 0.f), dk(k.size(), 0.f), dv(v.size(), 0.f);
  grad::attention_backward(c, R.data(), q.data(), k.data(), v.data(), p.data(), dq.data(), dk.data(), dv.data(), T,
                           scratch);
  Vec qd = to_d(q), kd = to_d(k), vd = to_d(v), Rd = to_d(R);
  auto f = [&] { return dotv(ref_attention(c, qd, kd, vd, T), Rd); };
  expect_fd(f, &qd, dq, "attention dq");
  expect_fd(f, &kd, dk, "attention dk");
  expect_fd(f, &vd, dv, "attention dv");
}

TEST(GradOps, SwigluMatchesFiniteDifferences) {
  std::mt19937 rng(7);
  const int n = 30;
  auto g = rand_f(rng, n, 2.f), u = rand_f(rng, n), R = rand_f(rng, n);
  std::vector<float> dg(n, 0.f), du(n, 0.f);
  grad::swiglu_backward(R.data(), g.data(), u.data(), dg.data(), du.data(), n);
  Vec gd = to_d(g), ud = to_d(u), Rd = to_d(R);
  auto f = [&] { return dotv(ref_swiglu(gd, ud), Rd); };
  expect_fd(f, &gd, dg, "swiglu dgate");
  expect_fd(f, &ud, du, "swiglu dup");
}

// The whole block in float64, from double copies of its parameters.
struct RefBlock {
  ModelConfig c;
  Vec an, fn, wq, wk, wv, wo, wg, wu, wd, bq, bk, bv;
  bool bias = false;
  Vec qn, kn;  // (head_dim) per-head q/k norms when c.qk_norm
  Vec forward(const Vec& x, int T) const {
    const int d = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), hid = c.hidden_dim;
    Vec xn = ref_rmsnorm(x, an, T, d, c.norm_eps);
    Vec q = ref_linear(xn, wq, bias ? &bq : nullptr, T, d, qd), k = ref_linear(xn, wk, bias ? &bk : nullptr, T, d, kvd);
    if (c.qk_norm) {
      q = ref_rmsnorm(q, qn, T * c.n_heads, c.head_dim, c.norm_eps);
      k = ref_rmsnorm(k, kn, T * c.n_kv_heads, c.head_dim, c.norm_eps);
    }
    q = ref_rope(q, T, c.n_heads, c.head_dim, c.pos, c.rope_theta);
    k = ref_rope(k, T, c.n_kv_heads, c.head_dim, c.pos, c.rope_theta);
    Vec v = ref_linear(xn, wv, bias ? &bv : nullptr, T, d, kvd);
    Vec o = ref_linear(ref_attention(c, q, k, v, T), wo, nullptr, T, qd, d);
    Vec xm = x;
    for (size_t i = 0; i < xm.size(); ++i) xm[i] += o[i];
    Vec xn2 = ref_rmsnorm(xm, fn, T, d, c.norm_eps);
    Vec h = ref_swiglu(ref_linear(xn2, wg, nullptr, T, d, hid), ref_linear(xn2, wu, nullptr, T, d, hid));
    Vec dn = ref_linear(h, wd, nullptr, T, hid, d);
    for (size_t i = 0; i < xm.size(); ++i) xm[i] += dn[i];
    return xm;
  }
};

// One training forward + backward of block b on a random input x (T, dim)
// and a random output gradient R, drawn from rng in that order.
struct BlockRun {
  std::vector<float> x, R, out, dx;
  grad::BlockGrads g;
};
BlockRun train_block(const ModelConfig& c, const BlockWeights& b, int T, std::mt19937& rng) {
  RopeTable rope;
  rope.build(c, T);
  BlockRun r;
  r.x = rand_f(rng, size_t(T) * c.dim);
  r.R = rand_f(rng, size_t(T) * c.dim);
  r.out.resize(r.x.size());
  r.dx.resize(r.x.size());
  grad::BlockActs acts;
  grad::BackwardScratch s;
  r.g.zero(c, b);
  grad::block_train_forward(c, b, rope, r.x.data(), r.out.data(), T, acts);
  grad::block_backward(c, b, rope, r.R.data(), acts, r.g, r.dx.data(), s);
  return r;
}

void check_block(PosKind pos, bool bias, bool qk_norm = false) {
  test::TinySpec spec;
  spec.layers = 1;
  spec.pos = pos;
  spec.qkv_bias = bias;
  spec.qk_norm = qk_norm;
  spec.dim = 8;
  spec.hidden = 12;
  spec.heads = 4;
  spec.kv_heads = 2;
  Model m = test::make_tiny_model(spec);
  const ModelConfig& c = m.config;
  BlockWeights& b = m.weights.blocks[0];
  const int T = 5;
  std::mt19937 rng(8);
  auto [x, R, out, dx, g] = train_block(c, b, T, rng);

  RefBlock r{c,         to_d(b.attn_norm), to_d(b.ffn_norm), to_d(b.wq.w), to_d(b.wk.w), to_d(b.wv.w),
             to_d(b.wo.w), to_d(b.w_gate.w), to_d(b.w_up.w), to_d(b.w_down.w), to_d(b.wq.bias), to_d(b.wk.bias),
             to_d(b.wv.bias), bias,        to_d(b.q_norm),   to_d(b.k_norm)};
  Vec xd = to_d(x), Rd = to_d(R);
  Vec ref_out = r.forward(xd, T);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref_out[i], 1e-4);
  auto f = [&] { return dotv(r.forward(xd, T), Rd); };
  expect_fd(f, &xd, dx, "block dx");
  expect_fd(f, &r.wq, g.wq, "block dWq");
  expect_fd(f, &r.wk, g.wk, "block dWk");
  expect_fd(f, &r.wv, g.wv, "block dWv");
  expect_fd(f, &r.wo, g.wo, "block dWo");
  expect_fd(f, &r.wg, g.w_gate, "block dWgate");
  expect_fd(f, &r.wu, g.w_up, "block dWup");
  expect_fd(f, &r.wd, g.w_down, "block dWdown");
  expect_fd(f, &r.an, g.attn_norm, "block d attn_norm");
  expect_fd(f, &r.fn, g.ffn_norm, "block d ffn_norm");
  if (qk_norm) {
    expect_fd(f, &r.qn, g.q_norm, "block d q_norm");
    expect_fd(f, &r.kn, g.k_norm, "block d k_norm");
  }
  if (bias) {
    expect_fd(f, &r.bq, g.bq, "block dbq");
    expect_fd(f, &r.bk, g.bk, "block dbk");
    expect_fd(f, &r.bv, g.bv, "block dbv");
  }
}

// OPT's pre-norm block: LayerNorm with bias, biases on every linear, ReLU
// fc1 -> fc2, no RoPE (positions are added to the embedding, outside the block).
Vec ref_layernorm(const Vec& x, const Vec& w, const Vec& b, int T, int n, double eps) {
  Vec y(x.size());
  for (int t = 0; t < T; ++t) {
    double m = 0, v = 0;
    for (int i = 0; i < n; ++i) m += x[size_t(t * n + i)] / n;
    for (int i = 0; i < n; ++i) v += (x[size_t(t * n + i)] - m) * (x[size_t(t * n + i)] - m) / n;
    for (int i = 0; i < n; ++i) y[size_t(t * n + i)] = (x[size_t(t * n + i)] - m) / std::sqrt(v + eps) * w[size_t(i)] + b[size_t(i)];
  }
  return y;
}

TEST(GradBlock, MatchesFiniteDifferencesOptLayerNormReluBiases) {
  test::TinySpec spec;
  spec.layers = 1;
  spec.pos = PosKind::RopeHalves;
  spec.dim = 8;
  spec.hidden = 12;
  spec.heads = 2;
  spec.kv_heads = 2;
  Model m = test::make_tiny_model(spec);
  ModelConfig& c = m.config;
  c.arch = "OPTForCausalLM";
  c.norm = NormKind::LayerNorm;
  c.mlp = MlpKind::ReLU;
  c.pos = PosKind::Learned;
  c.all_bias = c.qkv_bias = true;
  BlockWeights& b = m.weights.blocks[0];
  std::mt19937 rng(12);
  auto vec = [&](int64_t n, float s) { return Tensor::from(rand_f(rng, size_t(n), s), 1, n); };
  b.has_gate = false;
  b.w_gate = Linear();
  b.attn_norm_bias = vec(c.dim, 0.2f);
  b.ffn_norm_bias = vec(c.dim, 0.2f);
  for (auto& ref : b.linears()) ref.linear->bias = vec(ref.linear->out(), 0.2f);
  const int T = 5;
  auto [x, R, out, dx, g] = train_block(c, b, T, rng);

  Vec an = to_d(b.attn_norm), anb = to_d(b.attn_norm_bias), fn = to_d(b.ffn_norm), fnb = to_d(b.ffn_norm_bias);
  Vec wq = to_d(b.wq.w), wk = to_d(b.wk.w), wv = to_d(b.wv.w), wo = to_d(b.wo.w), wu = to_d(b.w_up.w),
      wd = to_d(b.w_down.w);
  const Vec bq = to_d(b.wq.bias), bk = to_d(b.wk.bias), bv = to_d(b.wv.bias), bo = to_d(b.wo.bias),
            bu = to_d(b.w_up.bias), bd = to_d(b.w_down.bias);
  const int d = c.dim, hid = c.hidden_dim;
  auto forward = [&](const Vec& xin) {
    Vec n1 = ref_layernorm(xin, an, anb, T, d, c.norm_eps);
    Vec q = ref_linear(n1, wq, &bq, T, d, d), k = ref_linear(n1, wk, &bk, T, d, d), v = ref_linear(n1, wv, &bv, T, d, d);
    Vec o = ref_linear(ref_attention(c, q, k, v, T), wo, &bo, T, d, d);
    Vec xm = xin;
    for (size_t i = 0; i < xm.size(); ++i) xm[i] += o[i];
    Vec h = ref_linear(ref_layernorm(xm, fn, fnb, T, d, c.norm_eps), wu, &bu, T, d, hid);
    for (auto& e : h) e = std::max(e, 0.0);
    Vec dn = ref_linear(h, wd, &bd, T, hid, d);
    for (size_t i = 0; i < xm.size(); ++i) xm[i] += dn[i];
    return xm;
  };
  Vec xd = to_d(x), Rd = to_d(R);
  const Vec ref_out = forward(xd);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref_out[i], 1e-4);
  auto f = [&] { return dotv(forward(xd), Rd); };
  expect_fd(f, &xd, dx, "opt block dx");
  expect_fd(f, &wq, g.wq, "opt block dWq");
  expect_fd(f, &wk, g.wk, "opt block dWk");
  expect_fd(f, &wv, g.wv, "opt block dWv");
  expect_fd(f, &wo, g.wo, "opt block dWo");
  expect_fd(f, &wu, g.w_up, "opt block dWfc1");
  expect_fd(f, &wd, g.w_down, "opt block dWfc2");
  expect_fd(f, &an, g.attn_norm, "opt block d attn LayerNorm weight");
  expect_fd(f, &fn, g.ffn_norm, "opt block d ffn LayerNorm weight");
}

TEST(GradBlock, MatchesFiniteDifferencesInterleaved) { check_block(PosKind::RopeInterleaved, false); }
TEST(GradBlock, MatchesFiniteDifferencesHalvesWithBias) { check_block(PosKind::RopeHalves, true); }
TEST(GradBlock, MatchesFiniteDifferencesWithQkNorm) { check_block(PosKind::RopeHalves, false, true); }

// The training forward is the inference block on one window.
TEST(GradBlock, ForwardEqualsModelBlockForward) {
  Model m = test::make_tiny_model();
  const ModelConfig& c = m.config;
  const int T = 9;
  RopeTable rope;
  rope.build(c, T);
  std::mt19937 rng(9);
  auto x = rand_f(rng, size_t(T) * c.dim);
  std::vector<float> out(x.size()), k(size_t(T) * c.kv_dim()), v(size_t(T) * c.kv_dim());
  grad::BlockActs acts;
  grad::block_train_forward(c, m.weights.blocks[0], rope, x.data(), out.data(), T, acts);
  BlockScratch s;
  block_forward(c, 0, m.weights.blocks[0], rope, x.data(), T, 0, k.data(), v.data(), s);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(out[i], x[i], 1e-5);
}

TEST(GradBlock, GradientsIdenticalForOneAndThreeThreads) {
  test::TinySpec spec;
  spec.layers = 1;
  spec.dim = 64;
  spec.hidden = 160;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.seq = 128;
  Model m = test::make_tiny_model(spec);
  const ModelConfig& c = m.config;
  const int T = 128;
  RopeTable rope;
  rope.build(c, T);
  std::mt19937 rng(10);
  auto x = rand_f(rng, size_t(T) * c.dim), R = rand_f(rng, size_t(T) * c.dim);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    grad::BlockActs acts;
    grad::BlockGrads g;
    grad::BackwardScratch s;
    g.zero(c, m.weights.blocks[0]);
    std::vector<float> out(x.size()), dx(x.size());
    grad::block_train_forward(c, m.weights.blocks[0], rope, x.data(), out.data(), T, acts);
    grad::block_backward(c, m.weights.blocks[0], rope, R.data(), acts, g, dx.data(), s);
    omp_set_num_threads(saved);
    std::vector<float> all = dx;
    for (auto* v : {&g.wq, &g.wk, &g.wv, &g.wo, &g.w_gate, &g.w_up, &g.w_down, &g.attn_norm, &g.ffn_norm})
      all.insert(all.end(), v->begin(), v->end());
    return all;
  };
  const auto a = run(1), b = run(3);
  ASSERT_EQ(a.size(), b.size());
  size_t first = a.size();
  for (size_t i = 0; i < a.size() && first == a.size(); ++i)
    if (a[i] != b[i]) first = i;
  EXPECT_EQ(first, a.size()) << "first difference at " << first << " of " << a.size() << " (dx has " << x.size()
                             << "): " << a[first] << " vs " << b[first];
}

}  // namespace
}  // namespace slim
