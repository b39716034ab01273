#include "model/forward.h"

#include "pack/packed_linear.h"

#include <cstring>

#include "util/error.h"

namespace slim {

void BlockScratch::ensure(const ModelConfig& c, int T) {
  if (T <= capacity) return;
  capacity = T;
  xn.resize(size_t(T) * c.dim);
  q.resize(size_t(T) * c.q_dim());
  att.resize(size_t(T) * c.q_dim());
  proj.resize(size_t(T) * c.dim);
  gate.resize(size_t(T) * c.hidden_dim);
  up.resize(size_t(T) * c.hidden_dim);
}

void KVCache::init(const ModelConfig& c, int max_seq_) {
  max_seq = max_seq_;
  kv_dim = c.kv_dim();
  k.assign(size_t(c.n_layers) * max_seq * kv_dim, 0.f);
  v.assign(size_t(c.n_layers) * max_seq * kv_dim, 0.f);
}

void block_forward(const ModelConfig& c, const BlockWeights& b, const RopeTable& rope_tab, float* x, int T, int pos0,
                   float* kbuf, float* vbuf, BlockScratch& s, const LinearInputHook* hook, bool inputs_only) {
  s.ensure(c, T);
  const int64_t n = int64_t(T) * c.dim;
  float* k_new = kbuf + int64_t(pos0) * c.kv_dim();  // (T, kv_dim) rows of this call
  float* v_new = vbuf + int64_t(pos0) * c.kv_dim();

  // --- attention: x += Wo · Attention(RoPE(Wq·n), RoPE(Wk·n), Wv·n),  n = RMSNorm(x)
  rmsnorm(x, b.attn_norm.data(), s.xn.data(), T, c.dim, c.norm_eps);
  if (hook) (*hook)(InputSite::AttnIn, s.xn.data(), T, c.dim);
  linear(s.xn.data(), b.wq, s.q.data(), T);
  linear(s.xn.data(), b.wk, k_new, T);
  linear(s.xn.data(), b.wv, v_new, T);
  if (c.qk_norm) {  // every head's row of head_dim values normalised on its own
    rmsnorm(s.q.data(), b.q_norm.data(), s.q.data(), T * c.n_heads, c.head_dim, c.norm_eps);
    rmsnorm(k_new, b.k_norm.data(), k_new, T * c.n_kv_heads, c.head_dim, c.norm_eps);
  }
  rope(s.q.data(), T, c.n_heads, c.head_dim, pos0, c.pos, rope_tab);
  rope(k_new, T, c.n_kv_heads, c.head_dim, pos0, c.pos, rope_tab);
  causal_attention(c, s.q.data(), kbuf, vbuf, s.att.data(), T, pos0, s.attn);
  if (hook) (*hook)(InputSite::AttnOut, s.att.data(), T, c.q_dim());
  linear(s.att.data(), b.wo, s.proj.data(), T);
  add_inplace(x, s.proj.data(), n);

  // --- SwiGLU MLP: x += W_down · (silu(W_gate·n) ⊙ W_up·n),  n = RMSNorm(x)
  rmsnorm(x, b.ffn_norm.data(), s.xn.data(), T, c.dim, c.norm_eps);
  if (hook) (*hook)(InputSite::MlpIn, s.xn.data(), T, c.dim);
  linear(s.xn.data(), b.w_gate, s.gate.data(), T);
  linear(s.xn.data(), b.w_up, s.up.data(), T);
  swiglu(s.gate.data(), s.up.data(), int64_t(T) * c.hidden_dim);
  if (hook) (*hook)(InputSite::MlpHidden, s.gate.data(), T, c.hidden_dim);
  if (inputs_only) return;
  linear(s.gate.data(), b.w_down, s.proj.data(), T);
  add_inplace(x, s.proj.data(), n);
}

void embed(const Model& m, std::span<const int> tokens, float* x) {
  const int d = m.config.dim;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const int id = tokens[t];
    SLIM_CHECK(id >= 0 && id < m.config.vocab_size, "token id {} at position {} is outside the vocabulary (0..{})",
               id, t, m.config.vocab_size - 1);
    if (m.weights.tok_embed_packed)
      m.weights.tok_embed_packed->dequantize_rows(id, id + 1, x + t * d, d);
    else
      m.weights.tok_embed.rows_to_f32(id, id + 1, x + t * d, d);  // any storage type
  }
}

void head_logits(const Model& m, const float* x, int T, float* logits, std::vector<float>& tmp) {
  const ModelConfig& c = m.config;
  tmp.resize(size_t(T) * c.dim);
  rmsnorm(x, m.weights.final_norm.data(), tmp.data(), T, c.dim, c.norm_eps);
  Linear head{m.weights.lm_head, {}, m.weights.lm_head_packed};
  linear(tmp.data(), head, logits, T);
}

Session::Session(const Model& m, int max_seq) : m_(m) {
  const int cap = std::min(max_seq, m.config.max_seq_len);
  rope_.build(m.config, cap);
  cache_.init(m.config, cap);
}

std::span<const float> Session::step(std::span<const int> tokens) {
  const ModelConfig& c = m_.config;
  const int T = int(tokens.size());
  SLIM_CHECK(T > 0, "empty token sequence");
  SLIM_CHECK(pos_ + T <= cache_.max_seq, "sequence of {} tokens exceeds the context of {}", pos_ + T,
             cache_.max_seq);
  x_.resize(size_t(T) * c.dim);
  embed(m_, tokens, x_.data());
  for (int l = 0; l < c.n_layers; ++l)
    block_forward(c, m_.weights.blocks[size_t(l)], rope_, x_.data(), T, pos_, cache_.k_layer(l), cache_.v_layer(l),
                  scratch_);
  logits_.resize(size_t(c.vocab_size));
  head_logits(m_, x_.data() + int64_t(T - 1) * c.dim, 1, logits_.data(), tmp_);
  pos_ += T;
  return logits_;
}

std::vector<float> forward_logits(const Model& m, std::span<const int> tokens) {
  const ModelConfig& c = m.config;
  const int T = int(tokens.size());
  SLIM_CHECK(T > 0 && T <= c.max_seq_len, "sequence length {} outside 1..{}", T, c.max_seq_len);
  RopeTable rope_tab;
  rope_tab.build(c, T);
  BlockScratch s;
  std::vector<float> x(size_t(T) * c.dim), k(size_t(T) * c.kv_dim()), v(size_t(T) * c.kv_dim());
  embed(m, tokens, x.data());
  for (const auto& b : m.weights.blocks) block_forward(c, b, rope_tab, x.data(), T, 0, k.data(), v.data(), s);
  std::vector<float> logits(size_t(T) * c.vocab_size), tmp;
  head_logits(m, x.data(), T, logits.data(), tmp);
  return logits;
}

int64_t block_activation_bytes(const ModelConfig& c, int64_t T) {
  // x, xn, proj (dim); q, att (q_dim); gate, up (hidden); k, v (kv_dim).
  return 4 * T * (3 * int64_t(c.dim) + 2 * c.q_dim() + 2 * int64_t(c.hidden_dim) + 2 * c.kv_dim());
}

int64_t kv_cache_bytes(const ModelConfig& c, int64_t max_seq) { return 2 * 4 * int64_t(c.n_layers) * max_seq * c.kv_dim(); }

}  // namespace slim
