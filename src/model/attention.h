// Causal multi-head attention with grouped-query heads, over a key/value
// buffer that holds positions 0 .. pos0+T-1 (a KV cache, or just this chunk).
#pragma once
#include <vector>

#include "model/config.h"

namespace slim {

struct AttentionScratch {
  std::vector<float> scores;  // (threads, kRowBlock, S)
  // Thread-seconds spent in each step, accumulated when `profile` is set
  // (bench_forward --calib): scores (QKᵀ), softmax (with masking), PV.
  bool profile = false;
  double scores_s = 0, softmax_s = 0, pv_s = 0;
};

// q:   (T, n_heads*head_dim) queries for positions pos0 .. pos0+T-1 (RoPE applied)
// k,v: (pos0+T, n_kv_heads*head_dim) keys/values of every position so far
// out: (T, n_heads*head_dim)
// window: the layer's sliding window (ModelConfig::window; 0: full causal):
// query t sees keys j with t - j < window. Scores are q·k scaled by
// head_dim^-1/2 (or attn_scalar^-1/2) and soft-capped when attn_softcap > 0.
void causal_attention(const ModelConfig& c, int window, const float* q, const float* k, const float* v, float* out,
                      int T, int pos0, AttentionScratch& s);

}  // namespace slim
