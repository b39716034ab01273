#include "model/forward.h"

#include "pack/packed_linear.h"

#include <chrono>
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

void block_forward(const ModelConfig& c, int layer, const BlockWeights& b, const RopeTable& rope_tab, float* x, int T,
                   int pos0, float* kbuf, float* vbuf, BlockScratch& s, const LinearInputHook* hook,
                   bool inputs_only) {
  s.ensure(c, T);
  const int64_t n = int64_t(T) * c.dim;
  float* k_new = kbuf + int64_t(pos0) * c.kv_dim();  // (T, kv_dim) rows of this call
  float* v_new = vbuf + int64_t(pos0) * c.kv_dim();
  // Profiling (s.profile): lap(slot) adds the time since the previous lap.
  using Clock = std::chrono::steady_clock;
  ForwardProfile* prof = s.profile;
  Clock::time_point mark = prof ? Clock::now() : Clock::time_point{};
  auto lap = [&](double ForwardProfile::*slot) {
    if (!prof) return;
    const auto now = Clock::now();
    prof->*slot += std::chrono::duration<double>(now - mark).count();
    mark = now;
  };
  auto call_hook = [&](InputSite site, const float* in, int dim) {
    if (!hook) return;
    (*hook)(site, in, T, dim);
    lap(&ForwardProfile::hook);
  };
  // Pre-norm (LLaMA, most OPTs): a sub-block reads norm(x). Post-norm
  // (OPT-350m): it reads x, and x is normed after the residual add.
  auto sub_block_input = [&](const Tensor& w, const Tensor& bias) {
    if (c.norm_before)
      norm_rows(c, x, w, bias, s.xn.data(), T, c.dim);
    else
      std::memcpy(s.xn.data(), x, size_t(n) * sizeof(float));
    lap(&ForwardProfile::norms);
  };
  // Gemma's sandwich norms: the sub-block's output (proj) is normed before the add.
  auto residual_add = [&](const Tensor& w, const Tensor& bias, const Tensor& post_norm) {
    if (c.sandwich_norm) norm_rows(c, s.proj.data(), post_norm, {}, s.proj.data(), T, c.dim);
    add_inplace(x, s.proj.data(), n);
    if (!c.norm_before) norm_rows(c, x, w, bias, x, T, c.dim);
    lap(&ForwardProfile::residual);
  };

  // --- attention: x += Wo · Attention(RoPE(Wq·n), RoPE(Wk·n), Wv·n),  n = norm(x)
  sub_block_input(b.attn_norm, b.attn_norm_bias);
  call_hook(InputSite::AttnIn, s.xn.data(), c.dim);
  {
    const Linear* qkv[] = {&b.wq, &b.wk, &b.wv};
    float* out[] = {s.q.data(), k_new, v_new};
    linear_shared_input(s.xn.data(), qkv, out, T);
  }
  lap(&ForwardProfile::qkv);
  if (c.qk_norm) {  // every head's row of head_dim values normalised on its own (the model's RMSNorm kind)
    norm_rows(c, s.q.data(), b.q_norm, {}, s.q.data(), T * c.n_heads, c.head_dim);
    norm_rows(c, k_new, b.k_norm, {}, k_new, T * c.n_kv_heads, c.head_dim);
    lap(&ForwardProfile::norms);
  }
  if (c.pos != PosKind::Learned) {
    const RopeTable& tab = rope_tab.for_layer(c, layer);
    rope(s.q.data(), T, c.n_heads, c.head_dim, pos0, c.pos, tab);
    rope(k_new, T, c.n_kv_heads, c.head_dim, pos0, c.pos, tab);
    lap(&ForwardProfile::rope);
  }
  s.attn.profile = prof != nullptr;
  causal_attention(c, c.window(layer), s.q.data(), kbuf, vbuf, s.att.data(), T, pos0, s.attn);
  lap(&ForwardProfile::attention);
  call_hook(InputSite::AttnOut, s.att.data(), c.q_dim());
  linear(s.att.data(), b.wo, s.proj.data(), T);
  lap(&ForwardProfile::o_proj);
  residual_add(b.attn_norm, b.attn_norm_bias, b.attn_post_norm);

  // --- MLP: x += W_down · act(n),  SwiGLU: silu(W_gate·n) ⊙ W_up·n;  GeGLU: gelu_tanh(W_gate·n) ⊙ W_up·n;
  //     ReLU: relu(W_up·n)
  sub_block_input(b.ffn_norm, b.ffn_norm_bias);
  call_hook(InputSite::MlpIn, s.xn.data(), c.dim);
  if (c.mlp != MlpKind::ReLU) {
    const Linear* up_gate[] = {&b.w_up, &b.w_gate};
    float* out[] = {s.up.data(), s.gate.data()};
    linear_shared_input(s.xn.data(), up_gate, out, T);
    lap(&ForwardProfile::gate_up);
    if (c.mlp == MlpKind::GeGLU)
      geglu(s.gate.data(), s.up.data(), int64_t(T) * c.hidden_dim);
    else
      swiglu(s.gate.data(), s.up.data(), int64_t(T) * c.hidden_dim);
  } else {  // fc1 straight into the hidden buffer
    linear(s.xn.data(), b.w_up, s.gate.data(), T);
    lap(&ForwardProfile::gate_up);
    relu(s.gate.data(), int64_t(T) * c.hidden_dim);
  }
  lap(&ForwardProfile::act);
  call_hook(InputSite::MlpHidden, s.gate.data(), c.hidden_dim);
  if (inputs_only) return;
  linear(s.gate.data(), b.w_down, s.proj.data(), T);
  lap(&ForwardProfile::down);
  residual_add(b.ffn_norm, b.ffn_norm_bias, b.ffn_post_norm);
}

void embed(const Model& m, std::span<const int> tokens, float* x, int pos0) {
  const ModelConfig& c = m.config;
  const int d = c.dim, e = c.embed_width(), T = int(tokens.size());
  const auto& w = m.weights;
  std::vector<float> narrow;  // (T, embed_dim) before project_in
  float* rows = x;
  if (!w.project_in.w.empty()) {
    narrow.resize(size_t(T) * e);
    rows = narrow.data();
  }
  for (int t = 0; t < T; ++t) {
    const int id = tokens[size_t(t)];
    SLIM_CHECK(id >= 0 && id < c.vocab_size, "token id {} at position {} is outside the vocabulary (0..{})", id, t,
               c.vocab_size - 1);
    if (w.tok_embed_packed)
      w.tok_embed_packed->dequantize_rows(id, id + 1, rows + int64_t(t) * e, e);
    else
      w.tok_embed.rows_to_f32(id, id + 1, rows + int64_t(t) * e, e);  // any storage type
  }
  if (c.embed_scale != 1.f)  // Gemma: sqrt(hidden_size), rounded as HF rounds it (hf_hybrid_config.cc)
    for (int64_t i = 0; i < int64_t(T) * e; ++i) rows[i] *= c.embed_scale;
  if (!w.project_in.w.empty()) linear(narrow.data(), w.project_in, x, T);
  if (c.pos == PosKind::Learned) {
    const int r0 = pos0 + c.pos_offset;
    SLIM_CHECK(r0 + T <= w.pos_embed.rows(), "position {} is beyond the {} learned positions", pos0 + T - 1,
               w.pos_embed.rows() - c.pos_offset);
    std::vector<float> p(size_t(T) * d);
    w.pos_embed.rows_to_f32(r0, r0 + T, p.data(), d);
    add_inplace(x, p.data(), int64_t(T) * d);
  }
}

void head_logits(const Model& m, const float* x, int T, float* logits, std::vector<float>& tmp) {
  const ModelConfig& c = m.config;
  const auto& w = m.weights;
  tmp.resize(size_t(T) * (c.dim + c.embed_width()));
  float* h = tmp.data();  // (T, dim)
  if (c.final_norm)
    norm_rows(c, x, w.final_norm, w.final_norm_bias, h, T, c.dim);
  else
    std::memcpy(h, x, size_t(T) * c.dim * sizeof(float));
  if (!w.project_out.w.empty()) {
    float* narrow = h + int64_t(T) * c.dim;  // (T, embed_dim)
    linear(h, w.project_out, narrow, T);
    h = narrow;
  }
  Linear head{w.lm_head, {}, w.lm_head_packed};
  linear(h, head, logits, T);
  if (c.final_softcap > 0) {  // Gemma-2: a tanh per logit, a row per thread (vocabularies of 256k)
#pragma omp parallel for if (int64_t(T) * c.vocab_size > 65536) schedule(static)
    for (int t = 0; t < T; ++t) softcap(logits + int64_t(t) * c.vocab_size, c.vocab_size, c.final_softcap);
  }
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
  embed(m_, tokens, x_.data(), pos_);
  for (int l = 0; l < c.n_layers; ++l)
    block_forward(c, l, m_.weights.blocks[size_t(l)], rope_, x_.data(), T, pos_, cache_.k_layer(l), cache_.v_layer(l),
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
  for (int l = 0; l < c.n_layers; ++l)
    block_forward(c, l, m.weights.blocks[size_t(l)], rope_tab, x.data(), T, 0, k.data(), v.data(), s);
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
