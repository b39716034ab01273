// Tiny LLaMA-family models with seeded random weights, built in memory so the
// tests need no downloaded checkpoint.
#pragma once
#include <random>

#include "model/weights.h"
#include "util/error.h"

namespace slim::test {

struct TinySpec {
  int dim = 16, hidden = 40, layers = 2, heads = 4, kv_heads = 2, vocab = 48, seq = 64;
  PosKind pos = PosKind::RopeInterleaved;
  bool tie = true;
  bool qkv_bias = false;
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
  c.arch = s.pos == PosKind::RopeInterleaved ? "llama2c" : (s.qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
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

}  // namespace slim::test
