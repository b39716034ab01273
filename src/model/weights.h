// Model weights, LLaMA family. Every tensor carries its shape in a comment;
// linears are (out_features, in_features) as in PyTorch, so y = x Wᵀ (+ b).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/tensor.h"

namespace slim {

class PackedLinear;

// A linear is either dense fp32 (`w`) or packed low-bit (`packed`, loaded from
// a slim-packed file; `w` is then empty). Quantizers work on dense linears only.
struct Linear {
  Tensor w;                                    // (out, in)
  Tensor bias;                                 // (1, out) or empty
  std::shared_ptr<const PackedLinear> packed;  // (out, in) packed codes, or null
  int64_t out() const;
  int64_t in() const;
};

// Where a linear reads its input from inside a block. Linears that share an
// input (q/k/v; gate/up) share one Hessian in calibration.
enum class InputSite { AttnIn, AttnOut, MlpIn, MlpHidden };

struct BlockWeights {
  Tensor attn_norm;  // (1, dim)
  Tensor attn_norm_bias;  // (1, dim) LayerNorm bias (config all_bias), else empty
  Linear wq;         // (n_heads*head_dim, dim)
  Linear wk;         // (n_kv_heads*head_dim, dim)
  Linear wv;         // (n_kv_heads*head_dim, dim)
  Tensor q_norm;     // (1, head_dim) per-head norm of q (config qk_norm), else empty
  Tensor k_norm;     // (1, head_dim) per-head norm of k
  Linear wo;         // (dim, n_heads*head_dim)
  Tensor attn_post_norm;  // (1, dim) norm of the attention output (config sandwich_norm), else empty
  Tensor ffn_norm;   // (1, dim)
  Tensor ffn_norm_bias;  // (1, dim)
  Tensor ffn_post_norm;   // (1, dim) norm of the MLP output (config sandwich_norm), else empty
  Linear w_gate;     // (hidden, dim)   "w1" in llama2.c; absent (has_gate false) in a ReLU MLP
  Linear w_up;       // (hidden, dim)   "w3"; OPT fc1
  Linear w_down;     // (dim, hidden)   "w2"; OPT fc2
  bool has_gate = true;  // false for MlpKind::ReLU (see has_gate_of): linears() then omits w_gate

  struct LinearRef {
    const char* name;  // "q_proj", ... (HF names)
    InputSite site;
    Linear* linear;
  };
  // The block's linears in execution order (q, k, v, o, gate, up, down; no
  // gate when !has_gate).
  std::vector<LinearRef> linears();
};

// Whether a block of this config has a gate projection (SwiGLU, GeGLU).
inline bool has_gate_of(const ModelConfig& c) { return c.mlp != MlpKind::ReLU; }

// (rows, cols) of the block linear named `name` ("q_proj", ... as linears()).
std::pair<int64_t, int64_t> linear_shape(const ModelConfig& c, const std::string& name);
// Whether the checkpoint stores a bias for a linear reading from `site`.
bool linear_has_bias(const ModelConfig& c, InputSite site);

struct ModelWeights {
  Tensor tok_embed;   // (vocab, embed_dim = dim unless config embed_dim); empty when tok_embed_packed is set
  std::shared_ptr<const PackedLinear> tok_embed_packed;  // (vocab, dim) optional packed embedding (--embed-bits)
  std::vector<BlockWeights> blocks;
  Tensor final_norm;  // (1, dim); empty when config final_norm is false
  Tensor final_norm_bias;  // (1, dim) LayerNorm bias, or empty
  Tensor pos_embed;   // (max_seq_len + pos_offset, dim) learned positions, or empty
  Linear project_in;  // (dim, embed_dim) when the embedding is narrower (OPT-350m), else empty
  Linear project_out; // (embed_dim, dim)
  Tensor lm_head;     // (vocab, embed_dim); shares storage with tok_embed when tied
  // Optional packed head (a packed file written with --head-bits); used by
  // the forward pass instead of lm_head when set.
  std::shared_ptr<const PackedLinear> lm_head_packed;
};

struct Model {
  ModelConfig config;
  ModelWeights weights;
  std::string source;  // path it was loaded from
  std::string format;  // "llama2c", "hf-safetensors"
  std::string source_dtype = "F32";  // dtype of the checkpoint's weights
};

}  // namespace slim
