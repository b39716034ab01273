// The LLaMA-family forward pass, block by block: embed -> blocks -> norm -> head.
// The quantizer runs and captures one decoder block at a time, so a block is a
// function of its input activations and nothing else (plus the KV buffer).
#pragma once
#include <functional>
#include <span>
#include <vector>

#include "model/attention.h"
#include "model/ops.h"
#include "model/weights.h"

namespace slim {

// Called with the input of every linear as the block computes it (calibration
// uses it to accumulate Hessians). x: (T, in).
using LinearInputHook = std::function<void(InputSite site, const float* x, int T, int in)>;

// Wall seconds per part of block_forward, accumulated when
// BlockScratch::profile points to one (bench_forward --calib); the clock
// reads cost ~20 calls per block, nothing next to a block's GEMMs.
struct ForwardProfile {
  double norms = 0, qkv = 0, rope = 0, attention = 0, o_proj = 0, gate_up = 0, act = 0, down = 0, residual = 0,
         hook = 0;
  double total() const { return norms + qkv + rope + attention + o_proj + gate_up + act + down + residual + hook; }
};

// Activations for up to T tokens, allocated once and reused across blocks.
struct BlockScratch {
  int capacity = 0;
  std::vector<float> xn;    // (T, dim)    normed input of a sub-block
  std::vector<float> q;     // (T, q_dim)
  std::vector<float> att;   // (T, q_dim)  attention output, input of o_proj
  std::vector<float> proj;  // (T, dim)    output of o_proj / down_proj
  std::vector<float> gate;  // (T, hidden) gate, then silu(gate)*up
  std::vector<float> up;    // (T, hidden)
  AttentionScratch attn;
  ForwardProfile* profile = nullptr;  // null: no timing
  void ensure(const ModelConfig& c, int T);
};

// Key/value cache for token-by-token generation.
struct KVCache {
  int max_seq = 0, kv_dim = 0;
  std::vector<float> k, v;  // (n_layers, max_seq, kv_dim)
  void init(const ModelConfig& c, int max_seq);
  float* k_layer(int l) { return k.data() + size_t(l) * max_seq * kv_dim; }
  float* v_layer(int l) { return v.data() + size_t(l) * max_seq * kv_dim; }
};

// x (T, dim) in/out: decoder block `layer` (b) for tokens at positions
// pos0..pos0+T-1; the layer index picks its attention window and RoPE table
// (ModelConfig::layer_attn). kbuf/vbuf (pos0+T, kv_dim): rows 0..pos0-1 hold earlier keys/values; this
// call writes rows pos0..pos0+T-1.
// inputs_only: stop once the last linear's input is known (calibration's
// Hessian pass, whose output is discarded: saves the down_proj product, ~1/5
// of a LLaMA block's FLOPs); x is then not the block's output.
void block_forward(const ModelConfig& c, int layer, const BlockWeights& b, const RopeTable& rope_tab, float* x, int T,
                   int pos0, float* kbuf, float* vbuf, BlockScratch& s, const LinearInputHook* hook = nullptr,
                   bool inputs_only = false);

// x (T, dim) = embedding rows of `tokens` at positions pos0.. (times
// embed_scale, through project_in, plus learned positions where the model has them). Throws on an
// out-of-range id or position.
void embed(const Model& m, std::span<const int> tokens, float* x, int pos0 = 0);

// logits (T, vocab) = lm_head(project_out(final_norm(x))), soft-capped when
// final_softcap > 0. x is not modified.
void head_logits(const Model& m, const float* x, int T, float* logits, std::vector<float>& tmp);

// A running model: the whole stack with a KV cache, for generation.
class Session {
 public:
  Session(const Model& m, int max_seq);
  // Runs `tokens` at the current position; returns the logits of the last one.
  std::span<const float> step(std::span<const int> tokens);
  int pos() const { return pos_; }
  void reset() { pos_ = 0; }

 private:
  const Model& m_;
  RopeTable rope_;
  KVCache cache_;
  BlockScratch scratch_;
  std::vector<float> x_, logits_, tmp_;
  int pos_ = 0;
};

// Full-sequence forward without a cache (positions 0..T-1): logits (T, vocab).
// Used by tests and small evaluations; perplexity streams the head instead.
std::vector<float> forward_logits(const Model& m, std::span<const int> tokens);

// Memory estimates for the up-front checks (util/memory.h), in bytes.
// One block_forward over T tokens: x, k, v and BlockScratch.
int64_t block_activation_bytes(const ModelConfig& c, int64_t T);
// A KVCache of `max_seq` positions over every layer.
int64_t kv_cache_bytes(const ModelConfig& c, int64_t max_seq);

}  // namespace slim
