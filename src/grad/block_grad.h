// A pre-norm decoder block (LLaMA family, OPT) with its backward pass, for training inside a
// block (SliM-LLM+'s learnable clipping, quant/lwc_train.h). The forward is the
// same computation as model/forward.h block_forward on one window (positions
// 0..T-1), but it keeps every activation the backward needs (BlockActs).
#pragma once
#include <vector>

#include "grad/ops_grad.h"
#include "model/weights.h"

namespace slim::grad {

// Activations of one window kept by block_train_forward. Shapes in tokens T.
struct BlockActs {
  int T = 0;
  std::vector<float> x;      // (T, dim)     block input
  std::vector<float> xn1;    // (T, dim)     attn_norm(x)
  std::vector<float> rstd1;  // (T)
  std::vector<float> mean1, mean2;  // (T) LayerNorm means
  std::vector<float> q;      // (T, q_dim)   after RoPE
  std::vector<float> k, v;   // (T, kv_dim)  k after RoPE
  std::vector<float> q_lin, k_lin;    // (T, q_dim), (T, kv_dim) projections before the q/k norms (qk_norm)
  std::vector<float> rstd_q, rstd_k;  // (T*n_heads), (T*n_kv_heads)
  std::vector<float> p;      // (n_heads, T, T) softmax probabilities
  std::vector<float> att;    // (T, q_dim)   attention output (o_proj input)
  std::vector<float> xmid;   // (T, dim)     x + o_proj(att)
  std::vector<float> xn2;    // (T, dim)     ffn_norm(xmid)
  std::vector<float> rstd2;  // (T)
  std::vector<float> gate, up, h;  // (T, hidden) h = silu(gate) * up; ReLU MLP: h = relu(up), gate unused
};

// Gradients of the block's parameters, same shapes as BlockWeights. Biases
// only where the block has them.
struct BlockGrads {
  std::vector<float> wq, wk, wv, wo, w_gate, w_up, w_down;
  std::vector<float> bq, bk, bv;
  std::vector<float> attn_norm, ffn_norm;
  std::vector<float> q_norm, k_norm;  // (head_dim) when the block has q/k norms
  void zero(const ModelConfig& c, const BlockWeights& b);
  std::vector<float>* of(const char* linear_name);  // "q_proj", ... -> its weight gradient
};

// out (T, dim) = block(x). x (T, dim) is copied into a.
// Refuses (slim::Error) blocks whose backward ops are not written: Gemma-style
// blocks, post-norm blocks, and sliding windows shorter than the T-token windows.
void check_block_trainable(const ModelConfig& c, int T);

void block_train_forward(const ModelConfig& c, const BlockWeights& b, const RopeTable& rope, const float* x,
                         float* out, int T, BlockActs& a);

// Backpropagates dout (T, dim) through the block of the last forward on `a`:
// g += parameter gradients; dx (T, dim) = input gradient unless null.
// scratch is reused across calls.
struct BackwardScratch {
  std::vector<float> dxmid, dxn, dh, dgate, dup, datt, dq, dk, dv, attn, dq_lin, dk_lin;
};
void block_backward(const ModelConfig& c, const BlockWeights& b, const RopeTable& rope, const float* dout,
                    BlockActs& a, BlockGrads& g, float* dx, BackwardScratch& s);

}  // namespace slim::grad
