#include "grad/block_grad.h"

#include <algorithm>
#include <cstring>

#include "util/error.h"

namespace slim::grad {

namespace {
const float* bias_or_null(const Linear& L) { return L.bias.empty() ? nullptr : L.bias.data(); }
void zeros(std::vector<float>& v, size_t n) { v.assign(n, 0.f); }
}  // namespace

void BlockGrads::zero(const ModelConfig& c, const BlockWeights& b) {
  zeros(wq, size_t(b.wq.w.numel()));
  zeros(wk, size_t(b.wk.w.numel()));
  zeros(wv, size_t(b.wv.w.numel()));
  zeros(wo, size_t(b.wo.w.numel()));
  zeros(w_gate, size_t(b.w_gate.w.numel()));  // empty without a gate
  zeros(w_up, size_t(b.w_up.w.numel()));
  zeros(w_down, size_t(b.w_down.w.numel()));
  zeros(bq, size_t(b.wq.bias.numel()));
  zeros(bk, size_t(b.wk.bias.numel()));
  zeros(bv, size_t(b.wv.bias.numel()));
  zeros(attn_norm, size_t(c.dim));
  zeros(q_norm, size_t(b.q_norm.numel()));
  zeros(k_norm, size_t(b.k_norm.numel()));
  zeros(ffn_norm, size_t(c.dim));
}

std::vector<float>* BlockGrads::of(const char* name) {
  const std::string n = name;
  if (n == "q_proj") return &wq;
  if (n == "k_proj") return &wk;
  if (n == "v_proj") return &wv;
  if (n == "o_proj") return &wo;
  if (n == "gate_proj") return &w_gate;
  if (n == "up_proj") return &w_up;
  if (n == "down_proj") return &w_down;
  throw Error("no gradient for linear '" + n + "'");
}

void check_block_trainable(const ModelConfig& c, int T) {
  // Gemma-2/3 blocks need backward passes of their own ops (the (1 + w)
  // norm, sandwich norms, GeGLU, soft-capping), not written yet.
  SLIM_CHECK(c.norm != NormKind::RMSNormPlusOne && !c.sandwich_norm && c.mlp != MlpKind::GeGLU && c.attn_softcap == 0 &&
                 c.attn_scalar == 0,
             "block training: Gemma-style blocks ((1 + w) norms, sandwich norms, GeGLU, attention scalar/soft-cap) "
             "are not supported");
  SLIM_CHECK(c.sliding_window <= 0 || c.sliding_window >= T, "block training: sliding-window attention is not supported");
  SLIM_CHECK(c.norm_before, "block training: post-norm blocks (OPT-350m) are not supported");
}

void block_train_forward(const ModelConfig& c, const BlockWeights& b, const RopeTable& rope, const float* x,
                         float* out, int T, BlockActs& a) {
  check_block_trainable(c, T);
  const int d = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), hid = c.hidden_dim;
  const size_t Td = size_t(T) * d;
  a.T = T;
  a.x.assign(x, x + Td);
  a.xn1.resize(Td);
  a.rstd1.resize(size_t(T));
  a.mean1.resize(size_t(T));
  a.mean2.resize(size_t(T));
  a.q.resize(size_t(T) * qd);
  a.k.resize(size_t(T) * kvd);
  a.v.resize(size_t(T) * kvd);
  a.p.resize(size_t(c.n_heads) * T * T);
  a.att.resize(size_t(T) * qd);
  a.xmid.resize(Td);
  a.xn2.resize(Td);
  a.rstd2.resize(size_t(T));
  a.gate.resize(size_t(T) * hid);
  a.up.resize(size_t(T) * hid);
  a.h.resize(size_t(T) * hid);

  norm_forward(c, x, b.attn_norm, b.attn_norm_bias, a.xn1.data(), a.mean1.data(), a.rstd1.data(), T, d);
  linear_forward(a.xn1.data(), b.wq.w.data(), bias_or_null(b.wq), a.q.data(), T, d, qd);
  linear_forward(a.xn1.data(), b.wk.w.data(), bias_or_null(b.wk), a.k.data(), T, d, kvd);
  linear_forward(a.xn1.data(), b.wv.w.data(), bias_or_null(b.wv), a.v.data(), T, d, kvd);
  if (c.qk_norm) {  // per-head RMSNorm: rows of head_dim
    a.q_lin = a.q;
    a.k_lin = a.k;
    a.rstd_q.resize(size_t(T) * c.n_heads);
    a.rstd_k.resize(size_t(T) * c.n_kv_heads);
    rmsnorm_forward(a.q_lin.data(), b.q_norm.data(), a.q.data(), a.rstd_q.data(), T * c.n_heads, c.head_dim, c.norm_eps);
    rmsnorm_forward(a.k_lin.data(), b.k_norm.data(), a.k.data(), a.rstd_k.data(), T * c.n_kv_heads, c.head_dim,
                    c.norm_eps);
  }
  if (c.pos != PosKind::Learned) {
    rope_forward(a.q.data(), T, c.n_heads, c.head_dim, c.pos, rope);
    rope_forward(a.k.data(), T, c.n_kv_heads, c.head_dim, c.pos, rope);
  }
  attention_forward(c, a.q.data(), a.k.data(), a.v.data(), a.att.data(), a.p.data(), T);
  linear_forward(a.att.data(), b.wo.w.data(), bias_or_null(b.wo), a.xmid.data(), T, qd, d);
  for (size_t i = 0; i < Td; ++i) a.xmid[i] += x[i];

  norm_forward(c, a.xmid.data(), b.ffn_norm, b.ffn_norm_bias, a.xn2.data(), a.mean2.data(), a.rstd2.data(), T, d);
  linear_forward(a.xn2.data(), b.w_up.w.data(), bias_or_null(b.w_up), a.up.data(), T, d, hid);
  if (c.mlp == MlpKind::SwiGLU) {
    linear_forward(a.xn2.data(), b.w_gate.w.data(), bias_or_null(b.w_gate), a.gate.data(), T, d, hid);
    swiglu_forward(a.gate.data(), a.up.data(), a.h.data(), int64_t(T) * hid);
  } else {
    relu_forward(a.up.data(), a.h.data(), int64_t(T) * hid);
  }
  linear_forward(a.h.data(), b.w_down.w.data(), bias_or_null(b.w_down), out, T, hid, d);
  for (size_t i = 0; i < Td; ++i) out[i] += a.xmid[i];
}

void block_backward(const ModelConfig& c, const BlockWeights& b, const RopeTable& rope, const float* dout,
                    BlockActs& a, BlockGrads& g, float* dx, BackwardScratch& s) {
  const int T = a.T, d = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), hid = c.hidden_dim;
  const size_t Td = size_t(T) * d;
  auto bias_grad = [](std::vector<float>& v) { return v.empty() ? nullptr : v.data(); };
  // --- MLP: out = xmid + W_down h
  s.dxmid.assign(dout, dout + Td);
  zeros(s.dh, size_t(T) * hid);
  linear_backward(dout, a.h.data(), b.w_down.w.data(), s.dh.data(), g.w_down.data(), nullptr, T, hid, d);
  zeros(s.dgate, size_t(T) * hid);
  zeros(s.dup, size_t(T) * hid);
  zeros(s.dxn, Td);
  if (c.mlp == MlpKind::SwiGLU) {
    swiglu_backward(s.dh.data(), a.gate.data(), a.up.data(), s.dgate.data(), s.dup.data(), int64_t(T) * hid);
    linear_backward(s.dgate.data(), a.xn2.data(), b.w_gate.w.data(), s.dxn.data(), g.w_gate.data(), nullptr, T, d, hid);
  } else {
    relu_backward(s.dh.data(), a.up.data(), s.dup.data(), int64_t(T) * hid);
  }
  linear_backward(s.dup.data(), a.xn2.data(), b.w_up.w.data(), s.dxn.data(), g.w_up.data(), nullptr, T, d, hid);
  norm_backward(c, s.dxn.data(), a.xmid.data(), b.ffn_norm, a.mean2.data(), a.rstd2.data(), s.dxmid.data(),
                g.ffn_norm.data(), T, d);
  // --- attention: xmid = x + W_o att
  zeros(s.datt, size_t(T) * qd);
  linear_backward(s.dxmid.data(), a.att.data(), b.wo.w.data(), s.datt.data(), g.wo.data(), nullptr, T, qd, d);
  zeros(s.dq, size_t(T) * qd);
  zeros(s.dk, size_t(T) * kvd);
  zeros(s.dv, size_t(T) * kvd);
  attention_backward(c, s.datt.data(), a.q.data(), a.k.data(), a.v.data(), a.p.data(), s.dq.data(), s.dk.data(),
                     s.dv.data(), T, s.attn);
  if (c.pos != PosKind::Learned) {
    rope_backward(s.dq.data(), T, c.n_heads, c.head_dim, c.pos, rope);
    rope_backward(s.dk.data(), T, c.n_kv_heads, c.head_dim, c.pos, rope);
  }
  if (c.qk_norm) {  // through the per-head norms: dq, dk become gradients of the projections
    s.dq_lin.assign(s.dq.size(), 0.f);
    s.dk_lin.assign(s.dk.size(), 0.f);
    rmsnorm_backward(s.dq.data(), a.q_lin.data(), b.q_norm.data(), a.rstd_q.data(), s.dq_lin.data(), g.q_norm.data(),
                     T * c.n_heads, c.head_dim);
    rmsnorm_backward(s.dk.data(), a.k_lin.data(), b.k_norm.data(), a.rstd_k.data(), s.dk_lin.data(), g.k_norm.data(),
                     T * c.n_kv_heads, c.head_dim);
    s.dq.swap(s.dq_lin);
    s.dk.swap(s.dk_lin);
  }
  zeros(s.dxn, Td);
  linear_backward(s.dq.data(), a.xn1.data(), b.wq.w.data(), s.dxn.data(), g.wq.data(), bias_grad(g.bq), T, d, qd);
  linear_backward(s.dk.data(), a.xn1.data(), b.wk.w.data(), s.dxn.data(), g.wk.data(), bias_grad(g.bk), T, d, kvd);
  linear_backward(s.dv.data(), a.xn1.data(), b.wv.w.data(), s.dxn.data(), g.wv.data(), bias_grad(g.bv), T, d, kvd);
  if (dx) {
    std::memcpy(dx, s.dxmid.data(), Td * sizeof(float));
    norm_backward(c, s.dxn.data(), a.x.data(), b.attn_norm, a.mean1.data(), a.rstd1.data(), dx, g.attn_norm.data(), T, d);
  } else {
    std::vector<float> sink(Td, 0.f);  // the norm weight's gradient still wanted
    norm_backward(c, s.dxn.data(), a.x.data(), b.attn_norm, a.mean1.data(), a.rstd1.data(), sink.data(),
                  g.attn_norm.data(), T, d);
  }
}

}  // namespace slim::grad
