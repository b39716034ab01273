// An independent, deliberately naive forward pass written the way llama2.c's
// run.c reads (one token at a time, scalar loops, its own RoPE and attention),
// used only as an oracle for the batched BLAS forward pass.
#pragma once
#include <cmath>
#include <vector>

#include "model/weights.h"

namespace slim::test {

inline std::vector<float> reference_logits(const Model& m, const std::vector<int>& tokens) {
  const ModelConfig& c = m.config;
  const int d = c.dim, hd = c.head_dim, kvd = c.kv_dim(), T = int(tokens.size());
  auto matvec = [](const Linear& L, const std::vector<double>& x) {
    std::vector<double> y(static_cast<size_t>(L.out()));
    for (int64_t o = 0; o < L.out(); ++o) {
      double s = L.bias.empty() ? 0 : L.bias.data()[o];
      for (int64_t i = 0; i < L.in(); ++i) s += double(L.w.row(o)[i]) * x[size_t(i)];
      y[size_t(o)] = s;
    }
    return y;
  };
  auto norm = [&](const std::vector<double>& x, const Tensor& w) {
    double ss = 0;
    for (double v : x) ss += v * v;
    double inv = 1.0 / std::sqrt(ss / d + c.norm_eps);
    std::vector<double> y(x.size());
    for (int i = 0; i < d; ++i) y[size_t(i)] = x[size_t(i)] * inv * w.data()[i];
    return y;
  };
  auto rope = [&](std::vector<double>& v, int heads, int pos) {
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        double f = pos * std::pow(double(c.rope_theta), -2.0 * i / hd);
        int a = c.pos == PosKind::RopeInterleaved ? h * hd + 2 * i : h * hd + i;
        int b = c.pos == PosKind::RopeInterleaved ? a + 1 : a + hd / 2;
        double x0 = v[size_t(a)], x1 = v[size_t(b)];
        v[size_t(a)] = x0 * std::cos(f) - x1 * std::sin(f);
        v[size_t(b)] = x0 * std::sin(f) + x1 * std::cos(f);
      }
  };
  std::vector<std::vector<std::vector<double>>> K(size_t(c.n_layers)), V(size_t(c.n_layers));
  std::vector<float> logits;
  for (int t = 0; t < T; ++t) {
    std::vector<double> x(static_cast<size_t>(d));
    for (int i = 0; i < d; ++i) x[size_t(i)] = m.weights.tok_embed.row(tokens[size_t(t)])[i];
    for (int l = 0; l < c.n_layers; ++l) {
      const auto& b = m.weights.blocks[size_t(l)];
      auto xn = norm(x, b.attn_norm);
      auto q = matvec(b.wq, xn), k = matvec(b.wk, xn), v = matvec(b.wv, xn);
      if (c.qk_norm) {  // Qwen3: RMSNorm of each head vector
        auto head_norm = [&](std::vector<double>& u, const Tensor& w) {
          for (size_t h0 = 0; h0 < u.size(); h0 += size_t(hd)) {
            double ss = 0;
            for (int i = 0; i < hd; ++i) ss += u[h0 + size_t(i)] * u[h0 + size_t(i)];
            const double inv = 1.0 / std::sqrt(ss / hd + c.norm_eps);
            for (int i = 0; i < hd; ++i) u[h0 + size_t(i)] *= inv * w.data()[i];
          }
        };
        head_norm(q, b.q_norm);
        head_norm(k, b.k_norm);
      }
      rope(q, c.n_heads, t);
      rope(k, c.n_kv_heads, t);
      K[size_t(l)].push_back(k);
      V[size_t(l)].push_back(v);
      std::vector<double> att(static_cast<size_t>(c.q_dim()), 0.0);
      for (int h = 0; h < c.n_heads; ++h) {
        int g = h / (c.n_heads / c.n_kv_heads);
        std::vector<double> s(static_cast<size_t>(t + 1));
        double mx = -1e300;
        for (int j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < hd; ++i) dot += q[size_t(h * hd + i)] * K[size_t(l)][size_t(j)][size_t(g * hd + i)];
          s[size_t(j)] = dot / std::sqrt(double(hd));
          mx = std::max(mx, s[size_t(j)]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < hd; ++i)
            att[size_t(h * hd + i)] += s[size_t(j)] / sum * V[size_t(l)][size_t(j)][size_t(g * hd + i)];
      }
      auto o = matvec(b.wo, att);
      for (int i = 0; i < d; ++i) x[size_t(i)] += o[size_t(i)];
      xn = norm(x, b.ffn_norm);
      auto g1 = matvec(b.w_gate, xn), u = matvec(b.w_up, xn);
      for (size_t i = 0; i < g1.size(); ++i) g1[i] = g1[i] / (1 + std::exp(-g1[i])) * u[i];
      auto dn = matvec(b.w_down, g1);
      for (int i = 0; i < d; ++i) x[size_t(i)] += dn[size_t(i)];
    }
    auto xn = norm(x, m.weights.final_norm);
    for (int v = 0; v < c.vocab_size; ++v) {
      double s = 0;
      for (int i = 0; i < d; ++i) s += double(m.weights.lm_head.row(v)[i]) * xn[size_t(i)];
      logits.push_back(float(s));
    }
    (void)kvd;
  }
  return logits;
}

}  // namespace slim::test
