// Tiny LLaMA-family models with seeded random weights, built in memory so the
// tests need no downloaded checkpoint.
#pragma once
#include <cmath>
#include <random>

#include "model/weights.h"
#include "util/error.h"

namespace slim::test {

struct TinySpec {
  int dim = 16, hidden = 40, layers = 2, heads = 4, kv_heads = 2, vocab = 48, seq = 64;
  PosKind pos = PosKind::RopeInterleaved;
  bool tie = true;
  bool qkv_bias = false;
  bool qk_norm = false;  // Qwen3
  uint32_t seed = 1;
};

inline Tensor random_tensor(std::mt19937& rng, int64_t rows, int64_t cols, float scale, float mean = 0.f) {
  std::normal_distribution<float> nd(mean, scale);
  std::vector<float> v(size_t(rows * cols));
  for (auto& x : v) x = nd(rng);
  return Tensor::from(std::move(v), rows, cols);
}

inline Model make_tiny_model(const TinySpec& s = {}) {
  Model m;
  ModelConfig& c = m.config;
  c.arch = s.pos == PosKind::RopeInterleaved ? "llama2c"
           : s.qk_norm                        ? "Qwen3ForCausalLM"
           : s.qkv_bias                       ? "Qwen2ForCausalLM"
                                              : "LlamaForCausalLM";
  c.dim = s.dim;
  c.hidden_dim = s.hidden;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.head_dim = s.dim / s.heads;
  c.vocab_size = s.vocab;
  c.max_seq_len = s.seq;
  c.pos = s.pos;
  c.tie_embeddings = s.tie;
  c.qkv_bias = s.qkv_bias;
  c.qk_norm = s.qk_norm;
  c.bos_id = 1;
  c.eos_id = 2;
  m.format = "memory";
  std::mt19937 rng(s.seed);
  const float ws = 0.4f / std::sqrt(float(s.dim));
  auto& w = m.weights;
  w.tok_embed = random_tensor(rng, s.vocab, s.dim, 1.f);
  w.blocks.resize(size_t(s.layers));
  for (auto& b : w.blocks) {
    b.attn_norm = random_tensor(rng, 1, s.dim, 0.1f, 1.f);
    b.wq.w = random_tensor(rng, c.q_dim(), s.dim, ws);
    b.wk.w = random_tensor(rng, c.kv_dim(), s.dim, ws);
    b.wv.w = random_tensor(rng, c.kv_dim(), s.dim, ws);
    if (s.qkv_bias) {
      b.wq.bias = random_tensor(rng, 1, c.q_dim(), 0.1f);
      b.wk.bias = random_tensor(rng, 1, c.kv_dim(), 0.1f);
      b.wv.bias = random_tensor(rng, 1, c.kv_dim(), 0.1f);
    }
    if (s.qk_norm) {
      b.q_norm = random_tensor(rng, 1, c.head_dim, 0.2f, 1.f);
      b.k_norm = random_tensor(rng, 1, c.head_dim, 0.2f, 1.f);
    }
    b.wo.w = random_tensor(rng, s.dim, c.q_dim(), ws);
    b.ffn_norm = random_tensor(rng, 1, s.dim, 0.1f, 1.f);
    b.w_gate.w = random_tensor(rng, s.hidden, s.dim, ws);
    b.w_up.w = random_tensor(rng, s.hidden, s.dim, ws);
    b.w_down.w = random_tensor(rng, s.dim, s.hidden, 0.4f / std::sqrt(float(s.hidden)));
  }
  w.final_norm = random_tensor(rng, 1, s.dim, 0.1f, 1.f);
  w.lm_head = s.tie ? w.tok_embed : random_tensor(rng, s.vocab, s.dim, 0.3f);
  return m;
}

inline std::vector<int> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(0, vocab - 1);
  std::vector<int> t(static_cast<size_t>(n));
  for (auto& x : t) x = u(rng);
  return t;
}

// A hand-checkable model: blocks are the identity (o_proj and down_proj are
// zero), embeddings are one-hot and the final norm is 1, so the hidden state
// of token i is sqrt(V)·e_i and logits = sqrt(V)·A[:, i]: a bigram model whose
// log-probabilities can be written down directly (bigram_logp).
inline Model bigram_model(int V, const std::vector<float>& A /* (V, V) */) {
  TinySpec s;
  s.dim = V;
  s.vocab = V;
  s.heads = 2;
  s.kv_heads = 2;
  s.tie = false;
  s.seq = 64;
  Model m = make_tiny_model(s);
  std::vector<float> eye(size_t(V * V), 0.f);
  for (int i = 0; i < V; ++i) eye[size_t(i * V + i)] = 1.f;
  m.weights.tok_embed = Tensor::from(eye, V, V);
  for (auto& b : m.weights.blocks) {
    b.wo.w = Tensor::zeros(V, m.config.q_dim());
    b.w_down.w = Tensor::zeros(V, s.hidden);
  }
  m.weights.final_norm = Tensor::from(std::vector<float>(size_t(V), 1.f), 1, V);
  m.weights.lm_head = Tensor::from(A, V, V);
  m.config.norm_eps = 1e-9f;
  return m;
}

// log p(next | prev) under bigram_model(V, A), computed independently.
inline double bigram_logp(int V, const std::vector<float>& A, int prev, int next) {
  const double s = std::sqrt(double(V));
  double mx = -1e300, sum = 0;
  for (int j = 0; j < V; ++j) mx = std::max(mx, s * A[size_t(j * V + prev)]);
  for (int j = 0; j < V; ++j) sum += std::exp(s * A[size_t(j * V + prev)] - mx);
  return s * A[size_t(next * V + prev)] - mx - std::log(sum);
}

}  // namespace slim::test
